"""Chassis liveness rules (Dragonflow's is-chassis-alive design, seed 000).

A chassis (= host = hypervisor) exists once its agent registered. It is alive while its last
report is no older than ``chassis_down_time``. Clocks are assumed NTP-synchronised (the seed's
assumption), so the report time is the server's receive time.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stateward.domain.errors import InvalidInput

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
    # The report interval the agent was told at registration (None: the server default).
    report_interval: float | None = None
    # Neutron agent binaries an operator disabled (``openstack network agent set --disable``).
    disabled_agents: list[str] = field(default_factory=list)

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

    def status(self, now: datetime, chassis_down_time: float) -> str:
        return "active" if self.is_active(now, chassis_down_time) else "down"

    def last_seen_age(self, now: datetime) -> float | None:
        """Seconds since the last report (None if it never reported)."""
        if self.heartbeat_at is None:
            return None
        return max(0.0, (now - self.heartbeat_at).total_seconds())

    def reported_change(self, ip: str, tunnel_types: list[str]) -> bool:
        """True when a registration changes what others care about (not the timestamp)."""
        return ip != self.ip or list(tunnel_types) != list(self.tunnel_types)


def check_intervals(report_interval: float, chassis_down_time: float) -> None:
    """The seed's rule: chassis_down_time must be more than twice report_interval."""
    if report_interval <= 0:
        raise InvalidInput("report_interval must be positive")
    if chassis_down_time <= 2 * report_interval:
        raise InvalidInput(
            f"report_interval {report_interval} is too long: chassis_down_time "
            f"({chassis_down_time}) must be more than twice the report interval, so at most "
            f"{chassis_down_time / 2:g} (exclusive)"
        )


class DeadlineTable:
    """Every chassis' deadline, in memory: the liveness watcher's state (pure, no I/O).

    ``beat`` records a report; ``expired(now)`` pops the chassis whose deadline passed (each
    once per silence); ``next_deadline`` is when to look next, so one timer suffices.
    A chassis that was declared down is ``down`` until it reports again; the report that
    brings it back is returned by ``beat`` (``True``: it came back up).
    """

    def __init__(self, chassis_down_time: float) -> None:
        self.down_time = timedelta(seconds=chassis_down_time)
        self._deadline: dict[str, datetime] = {}
        self._last_seen: dict[str, datetime] = {}
        self._down: set[str] = set()
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._deadline)

    def load(
        self, name: str, last_seen: datetime | None, *, down: bool, now: datetime, grace: float
    ) -> None:
        """Rebuild after a (re)start: deadline = max(last report + down time, now + grace)."""
        if last_seen is not None:
            self._last_seen[name] = last_seen
        if down:
            self._down.add(name)
            self._deadline.pop(name, None)
            return
        floor = now + timedelta(seconds=grace)
        deadline = floor if last_seen is None else max(last_seen + self.down_time, floor)
        self._set(name, deadline)

    def beat(self, name: str, at: datetime) -> bool:
        """Record a report at ``at``; True when the chassis was down and is back."""
        previous = self._last_seen.get(name)
        if previous is not None and at < previous:
            at = previous  # reports can arrive out of order across processes
        self._last_seen[name] = at
        self._set(name, at + self.down_time)
        if name in self._down:
            self._down.discard(name)
            return True
        return False

    def forget(self, name: str) -> None:
        self._deadline.pop(name, None)
        self._last_seen.pop(name, None)
        self._down.discard(name)

    def is_down(self, name: str) -> bool:
        return name in self._down

    def last_seen(self, name: str) -> datetime | None:
        return self._last_seen.get(name)

    def deadline(self, name: str) -> datetime | None:
        return self._deadline.get(name)

    def _set(self, name: str, deadline: datetime) -> None:
        self._deadline[name] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), name))

    def next_deadline(self) -> datetime | None:
        while self._heap:
            deadline, _, name = self._heap[0]
            if self._deadline.get(name) == deadline:
                return deadline
            heapq.heappop(self._heap)  # superseded by a later beat
        return None

    def expired(self, now: datetime) -> list[tuple[str, datetime]]:
        """Chassis whose deadline is at or before ``now``: marked down, returned once each."""
        out: list[tuple[str, datetime]] = []
        while self._heap and self._heap[0][0] <= now:
            deadline, _, name = heapq.heappop(self._heap)
            if self._deadline.get(name) != deadline:
                continue
            del self._deadline[name]
            self._down.add(name)
            out.append((name, deadline))
        return out
