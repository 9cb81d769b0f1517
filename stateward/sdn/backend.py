"""What the journal needs from an SDN controller; another controller implements this too."""

from __future__ import annotations

from typing import Any, Protocol

from stateward.config import JournalConfig


class ControllerUnavailable(Exception):
    """The controller could not be reached (connection refused, timeout, a load balancer with
    no live backend: 502/503/504). The row goes back to pending without counting a retry."""


class ControllerUnauthorized(ControllerUnavailable):
    """The controller refuses our credentials (401/403): a configuration problem, not the
    row's. Like an outage, the row waits without counting a retry; the monitor says ERROR."""


class ControllerError(Exception):
    """The controller answered, with an error. Counts as one try of the row."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ControllerBackend(Protocol):
    async def create(self, object_type: str, data: dict[str, Any]) -> None: ...

    async def update(self, object_type: str, uuid: str, data: dict[str, Any]) -> None: ...

    async def delete(self, object_type: str, uuid: str) -> None: ...

    async def get(self, object_type: str, uuid: str) -> dict[str, Any] | None: ...

    async def list_objects(self, object_type: str) -> list[dict[str, Any]]: ...

    async def probe(self) -> None:
        """Raise ControllerUnavailable or ControllerError unless the controller answers."""
        ...

    async def close(self) -> None: ...


def create_backend(
    config: JournalConfig, *, max_connections: int = 64, client_name: str = "stateward"
) -> ControllerBackend:
    from stateward.sdn.odl import OdlBackend

    return OdlBackend(
        config.url,
        config.username,
        config.password.get_secret_value(),
        timeout=config.timeout,
        max_connections=max_connections,
        user_agent=client_name,
    )
