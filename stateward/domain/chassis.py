"""Chassis liveness rules (Dragonflow's is-chassis-alive design, seed 000).

A chassis (= host = hypervisor) exists once its agent registered. It is alive while its last
report is no older than ``chassis_down_time``. Clocks are assumed NTP-synchronised (the seed's
assumption), so the report time is the server's receive time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SERVICE_STATES = ("running", "stopped", "failed", "unknown")


@dataclass(slots=True)
class ServiceStatus:
    """One local service an agent manages (Neutron ProcessMonitor's view)."""

    state: str = "unknown"
    pid: int | None = None
    since: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "pid": self.pid, "since": self.since, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceStatus:
        state = str(data.get("state", "unknown"))
        return cls(
            state if state in SERVICE_STATES else "unknown",
            data.get("pid"),
            data.get("since"),
            str(data.get("detail", "")),
        )


@dataclass(slots=True)
class Chassis:
    name: str
    ip: str
    tunnel_types: list[str] = field(default_factory=list)
    external_ids: dict[str, str] = field(default_factory=dict)
    heartbeat_at: datetime | None = None
    service_status: dict[str, ServiceStatus] = field(default_factory=dict)
    admin_state_up: bool = True
    created_at: datetime | None = None
    # Bumped on every up/down transition: message ids of chassis.down/up derive from it.
    generation: int = 0
    # The last state the watcher announced ("up" or "down"); None before the first one.
    announced: str | None = None

    def is_active(self, now: datetime, chassis_down_time: float) -> bool:
        """False when the last report is older than ``chassis_down_time`` (or never came)."""
        if self.heartbeat_at is None:
            return False
        return now - self.heartbeat_at <= timedelta(seconds=chassis_down_time)

    def deadline(self, chassis_down_time: float) -> datetime | None:
        """When the chassis will be considered down if it does not report again."""
        if self.heartbeat_at is None:
            return None
        return self.heartbeat_at + timedelta(seconds=chassis_down_time)
