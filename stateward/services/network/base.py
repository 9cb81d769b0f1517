"""What every Neutron resource's use cases offer: the generic API controller calls these."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from stateward.domain.errors import NotFound

T = TypeVar("T")
Filters = dict[str, list[Any]]


class ResourceUseCases(Protocol[T]):
    """Create / get / list / update / delete of one resource, each one transaction."""

    async def create(self, project_id: str, attrs: dict[str, Any]) -> T: ...

    async def get(self, resource_id: str) -> T: ...

    async def list(
        self,
        filters: Filters,
        *,
        visible_to: str | None,
        limit: int | None = None,
        marker: str | None = None,
        **extra: Any,
    ) -> list[T]: ...

    async def update(self, resource_id: str, changes: dict[str, Any]) -> T: ...

    async def delete(self, resource_id: str) -> None: ...


def not_found(label: str, resource_id: str) -> NotFound:
    """Neutron's ``<Label>NotFound``: ``Network X could not be found.``"""
    kind = label.replace(" ", "")
    return NotFound(f"{label} {resource_id} could not be found.", kind=f"{kind}NotFound")
