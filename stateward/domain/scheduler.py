"""Where a new server goes: Nova's filter scheduler shape, as pure rules.

Filters drop the hosts that cannot take the server (availability zone; compute enabled, not
forced down and alive; enough of the flavor's vCPUs, RAM and disk when the host reports its
capacity), weighers order the rest (fewest servers first, then most free RAM, then name), and
the first host that still fits when its usage is recounted under its lock gets the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."

# chassis external_ids an agent (or operator) reports capacity and zone with
CAPACITY_KEYS = ("vcpus", "memory_mb", "disk_gb")
ZONE_KEY = "availability_zone"


@dataclass(frozen=True, slots=True)
class Resources:
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.vcpus + other.vcpus,
            self.memory_mb + other.memory_mb,
            self.disk_gb + other.disk_gb,
        )


@dataclass(frozen=True, slots=True)
class Ratios:
    """Nova's allocation ratios and reserved host resources."""

    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0
    reserved_cpus: int = 0
    reserved_memory_mb: int = 512
    reserved_disk_mb: int = 0

    def usable(self, capacity: Resources) -> Resources:
        return Resources(
            int((capacity.vcpus - self.reserved_cpus) * self.cpu),
            int((capacity.memory_mb - self.reserved_memory_mb) * self.ram),
            int((capacity.disk_gb - self.reserved_disk_mb // 1024) * self.disk),
        )


@dataclass(frozen=True, slots=True)
class HostState:
    host: str
    zone: str
    enabled: bool
    up: bool  # alive and not forced down
    capacity: Resources | None  # None: the host does not report capacity
    used: Resources = field(default_factory=Resources)
    servers: int = 0


def capacity_of(external_ids: dict[str, str]) -> Resources | None:
    """A chassis' capacity from its external_ids; None unless all three are integers."""
    try:
        values = [int(external_ids[k]) for k in CAPACITY_KEYS]
    except (KeyError, ValueError):
        return None
    return Resources(*values)


def fits(host: HostState, wanted: Resources, ratios: Ratios) -> bool:
    """The resource filters (Nova's placement allocation candidates): room for ``wanted``."""
    if host.capacity is None:
        return True
    usable = ratios.usable(host.capacity)
    total = host.used + wanted
    return (
        total.vcpus <= usable.vcpus
        and total.memory_mb <= usable.memory_mb
        and total.disk_gb <= usable.disk_gb
    )


def filter_hosts(
    hosts: list[HostState], wanted: Resources, zone: str | None, ratios: Ratios
) -> list[HostState]:
    """AvailabilityZoneFilter, ComputeFilter, then the resource fit."""
    return [
        h
        for h in hosts
        if (zone is None or h.zone == zone) and h.enabled and h.up and fits(h, wanted, ratios)
    ]


def explain(hosts: list[HostState], wanted: Resources, zone: str | None, ratios: Ratios) -> str:
    """How many hosts each filter left (the fault details an admin sees)."""
    steps = [
        ("AvailabilityZoneFilter", lambda h: zone is None or h.zone == zone),
        ("ComputeFilter", lambda h: h.enabled and h.up),
        ("resources", lambda h: fits(h, wanted, ratios)),
    ]
    left = list(hosts)
    parts = [f"{len(left)} hosts"]
    for name, keep in steps:
        left = [h for h in left if keep(h)]
        parts.append(f"{name} left {len(left)}")
    return "; ".join(parts)


def weigh(hosts: list[HostState], ratios: Ratios) -> list[HostState]:
    """Fewest servers first (spreading), then most free RAM, then by name (stable)."""

    def free_ram(h: HostState) -> int:
        if h.capacity is None:
            return 0
        return ratios.usable(h.capacity).memory_mb - h.used.memory_mb

    return sorted(hosts, key=lambda h: (h.servers, -free_ram(h), h.host))


def no_valid_host_fault(now: str, details: str = "") -> dict[str, Any]:
    """Nova's fault for a server nothing could take (``details`` are shown to admins only)."""
    fault: dict[str, Any] = {"code": 500, "message": NO_VALID_HOST, "created": now}
    if details:
        fault["details"] = details
    return fault
