"""Compute rules (Nova's view of hosts and servers) and the host-fault transitions of seed 001.

Stateward tracks servers that orchestrators register on hosts; it does not boot them. A host's
``nova-compute`` service is derived from its chassis: up while the chassis reports and nobody
forced it down. When a host is forced down, its servers move to the configured fault state,
except those whose state must not be touched (the seed: deleted, soft-deleted, resized, error).
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# vm_state values (nova.compute.vm_states)
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"
VM_STATES = (
    ACTIVE,
    BUILDING,
    PAUSED,
    SUSPENDED,
    STOPPED,
    RESCUED,
    RESIZED,
    SOFT_DELETED,
    DELETED,
    ERROR,
    SHELVED,
    SHELVED_OFFLOADED,
)

# power_state values (nova.compute.power_state): integers in the API.
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

# What the seed says a host fault must never touch.
UNTOUCHED_ON_HOST_DOWN = frozenset({DELETED, SOFT_DELETED, RESIZED, ERROR})

# os-resetState accepts exactly these (Nova's schema).
RESET_STATES = (ACTIVE, ERROR)

FaultMode = Literal["error", "stopped", "unchanged"]
FAULT_MODES: tuple[FaultMode, ...] = ("error", "stopped", "unchanged")

COMPUTE_BINARY = "nova-compute"
SERVICE_NAMESPACE = uuid.UUID("5b6f0c8e-3c1d-4e0a-9f59-7a3c2f1d0b11")

# Nova's API status for a vm_state, and the task states that override it.
_STATUS = {
    ACTIVE: "ACTIVE",
    BUILDING: "BUILD",
    PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED",
    STOPPED: "SHUTOFF",
    RESCUED: "RESCUE",
    RESIZED: "VERIFY_RESIZE",
    SOFT_DELETED: "SOFT_DELETED",
    DELETED: "DELETED",
    ERROR: "ERROR",
    SHELVED: "SHELVED",
    SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}
_ACTIVE_TASK_STATUS = {
    "rebooting": "REBOOT",
    "reboot_pending": "REBOOT",
    "reboot_started": "REBOOT",
    "rebooting_hard": "HARD_REBOOT",
    "reboot_pending_hard": "HARD_REBOOT",
    "reboot_started_hard": "HARD_REBOOT",
    "rebuilding": "REBUILD",
    "migrating": "MIGRATING",
    "resize_prep": "RESIZE",
    "resize_migrating": "RESIZE",
    "resize_migrated": "RESIZE",
    "resize_finish": "RESIZE",
    "updating_password": "PASSWORD",
}


def api_status(vm_state: str, task_state: str | None) -> str:
    """The server ``status`` Nova shows for a vm_state/task_state pair."""
    if vm_state in (ACTIVE, STOPPED) and task_state in _ACTIVE_TASK_STATUS:
        return _ACTIVE_TASK_STATUS[task_state]
    return _STATUS.get(vm_state, "UNKNOWN")


@dataclass(frozen=True, slots=True)
class ServerState:
    vm_state: str
    task_state: str | None
    power_state: int


def fault_transition(state: ServerState, mode: FaultMode) -> ServerState | None:
    """The state a server moves to when its host is forced down; None when it stays as it is.

    ``error``: vm_state error, task_state cleared, power_state kept (what Nova's reset-state
    does and what Doctor's consumers alarm on). ``stopped``: the seed's vm_state stopped with
    power_state 4 (shutdown). ``unchanged``: upstream Nova, which never touches servers.
    """
    if mode == "unchanged" or state.vm_state in UNTOUCHED_ON_HOST_DOWN:
        return None
    if mode == "error":
        new = ServerState(ERROR, None, state.power_state)
    elif mode == "stopped":
        new = ServerState(STOPPED, None, SHUTDOWN)
    else:  # pragma: no cover - the Literal above is exhaustive
        raise ValueError(f"unknown fault mode {mode!r}")
    return None if new == state else new


def touched_vm_states(mode: FaultMode) -> tuple[str, ...]:
    """The vm_states a host-down may change (for set-based UPDATEs)."""
    if mode == "unchanged":
        return ()
    return tuple(s for s in VM_STATES if s not in UNTOUCHED_ON_HOST_DOWN)


def reset_state(state: ServerState, target: str) -> ServerState:
    """os-resetState: vm_state to ``active`` or ``error``, task_state cleared."""
    if target not in RESET_STATES:
        raise ValueError(target)
    return ServerState(target, None, state.power_state)


@dataclass(slots=True)
class Server:
    id: str
    project_id: str
    user_id: str
    name: str
    host: str
    vm_state: str = ACTIVE
    task_state: str | None = None
    power_state: int = RUNNING
    image_ref: str = ""
    flavor_ref: str = ""
    availability_zone: str = "nova"
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    launched_at: datetime | None = None
    deleted_at: datetime | None = None
    # the flavor's resources, copied at create (what quotas and the scheduler count)
    vcpus: int = 0
    memory_mb: int = 0
    root_gb: int = 0
    flavor: dict[str, Any] | None = None  # the flavor as it was when the server was created
    fault: dict[str, Any] | None = None  # {code, message, created}: why it went to ERROR
    created_ports: list[str] = field(default_factory=list)  # deleted with the server

    @property
    def state(self) -> ServerState:
        return ServerState(self.vm_state, self.task_state, self.power_state)

    def apply(self, state: ServerState) -> None:
        self.vm_state, self.task_state, self.power_state = (
            state.vm_state,
            state.task_state,
            state.power_state,
        )

    @property
    def status(self) -> str:
        return api_status(self.vm_state, self.task_state)


@dataclass(frozen=True, slots=True)
class NetworkRequest:
    """One entry of a server create's ``networks``: a network (optionally a fixed IP) or a
    port."""

    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None


@dataclass(frozen=True, slots=True)
class BootRequest:
    """A server create, validated at the edge."""

    project_id: str
    user_id: str
    name: str
    flavor_id: str
    image_ref: str = ""
    zone: str | None = None  # requested availability zone (None: any)
    host: str | None = None  # an admin's named host (2.74 ``host``, or ``nova:HOST``)
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    networks: list[NetworkRequest] | str | None = None  # a list, "auto", "none" or absent
    admin: bool = False


@dataclass(slots=True)
class ServiceOverride:
    """What an operator set on a host's compute service (absent row = all defaults)."""

    host: str
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    updated_at: datetime | None = None


def service_uuid(host: str) -> str:
    """The compute service's id from microversion 2.53: stable for a host name."""
    return str(uuid.uuid5(SERVICE_NAMESPACE, f"{COMPUTE_BINARY}:{host}"))


def service_int_id(host: str) -> int:
    """The integer id shown before 2.53 (stable, derived from the host name)."""
    return zlib.crc32(host.encode()) & 0x7FFFFFFF or 1


@dataclass(frozen=True, slots=True)
class ComputeServiceView:
    """A host's nova-compute service as the API shows it."""

    host: str
    alive: bool  # the chassis reports within chassis_down_time
    disabled: bool
    disabled_reason: str | None
    forced_down: bool
    updated_at: datetime | None

    @property
    def id(self) -> str:
        return service_uuid(self.host)

    @property
    def is_up(self) -> bool:
        return self.alive and not self.forced_down

    @property
    def state(self) -> str:
        return "up" if self.is_up else "down"

    @property
    def status(self) -> str:
        return "disabled" if self.disabled else "enabled"

    @property
    def host_status(self) -> str:
        """Nova's 2.16 host_status: DOWN (forced), UNKNOWN (not reporting), MAINTENANCE, UP."""
        if self.forced_down:
            return "DOWN"
        if not self.alive:
            return "UNKNOWN"
        if self.disabled:
            return "MAINTENANCE"
        return "UP"


def compute_service(
    host: str, alive: bool, override: ServiceOverride | None, heartbeat_at: datetime | None
) -> ComputeServiceView:
    o = override or ServiceOverride(host)
    updated = max((t for t in (heartbeat_at, o.updated_at) if t is not None), default=None)
    return ComputeServiceView(host, alive, o.disabled, o.disabled_reason, o.forced_down, updated)


# Raw failures (Doctor's inspector API) -----------------------------------------------------

HOST_DOWN = "compute.host.down"
HOST_UP = "compute.host.up"
RAW_FAILURE_TYPES = (HOST_DOWN, HOST_UP)


@dataclass(frozen=True, slots=True)
class RawFailure:
    """One event a monitor reported: ``{time, type, details: {hostname, status, monitor,
    monitor_event_id}}``; chassis.down/up from liveness become the same thing."""

    type: str
    hostname: str
    time: str | None = None
    status: str | None = None
    monitor: str | None = None
    monitor_event_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_down(self) -> bool:
        return self.type == HOST_DOWN

    @property
    def dedup_key(self) -> str | None:
        """Same host, type, monitor and monitor_event_id = the same raw failure."""
        if self.monitor_event_id is None:
            return None
        return f"{self.hostname}|{self.type}|{self.monitor or ''}|{self.monitor_event_id}"


def parse_raw_failures(payload: Any) -> list[RawFailure]:
    """Validate Doctor's event list; ValueError names the offending field (``[i].details.x``)."""
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload:
        raise ValueError("body: expected a non-empty list of events")
    result = []
    for i, item in enumerate(payload):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: each event must be an object")
        unknown = sorted(set(item) - {"id", "time", "type", "details"})
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown field")
        kind = item.get("type")
        if kind not in RAW_FAILURE_TYPES:
            raise ValueError(
                f"{where}.type: must be one of {list(RAW_FAILURE_TYPES)}, got {kind!r}"
            )
        time = item.get("time")
        if time is not None and not isinstance(time, str):
            raise ValueError(f"{where}.time: must be a string")
        details = item.get("details")
        if not isinstance(details, dict):
            raise ValueError(f"{where}.details: required object")
        hostname = details.get("hostname")
        if not isinstance(hostname, str) or not hostname or len(hostname) > 255:
            raise ValueError(f"{where}.details.hostname: required non-empty string")
        for key in ("status", "monitor", "monitor_event_id"):
            value = details.get(key)
            if value is not None and not isinstance(value, str | int):
                raise ValueError(f"{where}.details.{key}: must be a string")
            if value is not None and len(str(value)) > 255:
                raise ValueError(f"{where}.details.{key}: longer than 255 characters")
        status = details.get("status")
        if status is not None and str(status).lower() not in ("down", "up"):
            raise ValueError(f"{where}.details.status: must be 'down' or 'up'")
        if status is not None and (str(status).lower() == "down") != (kind == HOST_DOWN):
            raise ValueError(f"{where}.details.status: {status!r} contradicts type {kind}")
        mid = details.get("monitor_event_id")
        result.append(
            RawFailure(
                type=kind,
                hostname=hostname,
                time=time,
                status=str(status).lower() if status is not None else None,
                monitor=str(details["monitor"]) if details.get("monitor") is not None else None,
                monitor_event_id=str(mid) if mid is not None else None,
                details=dict(details),
            )
        )
    return result
