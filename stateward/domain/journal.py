"""The SDN journal's rules (networking-odl v2's design), with no I/O.

A journal row records one change of one object (create, update or delete) in the same
transaction as the change. Sync workers replay the rows to the controller. This module holds
what a row may depend on, the row's state machine, the connection monitor's and full sync's
state machines, the connection backoff and the comparison full sync uses to heal the
controller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RowState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    FAILED = "failed"
    COMPLETED = "completed"


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class MonitorState(StrEnum):
    """The seed's connection monitor: STARTING -> NORMAL <-> DISCONNECTED / ERROR."""

    STARTING = "STARTING"
    NORMAL = "NORMAL"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


class FullSyncState(StrEnum):
    """The seed's full sync: NULL -> CHECKING -> OUTOFSYNC -> SYNCING -> NORMAL."""

    NULL = "NULL"
    CHECKING = "CHECKING"
    OUTOFSYNC = "OUTOFSYNC"
    SYNCING = "SYNCING"
    NORMAL = "NORMAL"


FULL_SYNC_TRANSITIONS: dict[FullSyncState, set[FullSyncState]] = {
    FullSyncState.NULL: {FullSyncState.CHECKING},
    FullSyncState.NORMAL: {FullSyncState.CHECKING},
    # CHECKING -> NORMAL when both sides agree; -> NULL when the controller could not be read.
    # CHECKING again from any unfinished state: a new maintenance holder (the previous one
    # died mid-sync) or a new attempt starts over.
    FullSyncState.CHECKING: {
        FullSyncState.OUTOFSYNC,
        FullSyncState.NORMAL,
        FullSyncState.NULL,
        FullSyncState.CHECKING,
    },
    FullSyncState.OUTOFSYNC: {FullSyncState.SYNCING, FullSyncState.CHECKING},
    FullSyncState.SYNCING: {FullSyncState.NORMAL, FullSyncState.OUTOFSYNC, FullSyncState.CHECKING},
}


class InvalidTransition(ValueError):
    pass


def full_sync_step(current: FullSyncState, new: FullSyncState) -> FullSyncState:
    if new not in FULL_SYNC_TRANSITIONS[current]:
        raise InvalidTransition(f"full sync cannot go from {current} to {new}")
    return new


# Object types, their controller collections, and who depends on whom ------------------------

COLLECTIONS: dict[str, str] = {
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "router": "routers",
    "floatingip": "floatingips",
}

# A create or update waits for the pending create/update rows of its parents.
PARENT_TYPES: dict[str, tuple[str, ...]] = {
    "network": (),
    "subnet": ("network",),
    "port": ("network", "subnet"),
    "router": (),
    "floatingip": ("network", "router", "port"),
}

# A delete waits for the deletes of its children (the reverse relation).
CHILD_TYPES: dict[str, tuple[str, ...]] = {
    "network": ("subnet", "port", "floatingip"),
    "subnet": ("port",),
    "port": ("floatingip",),
    "router": ("port", "floatingip"),
    "floatingip": (),
}

# Full sync creates parents first and deletes children first.
SYNC_ORDER = ("network", "subnet", "router", "port", "floatingip")


def parent_refs(object_type: str, data: Mapping[str, Any]) -> list[str]:
    """The uuids of the objects this one hangs from (its rows wait for theirs)."""
    refs: list[str] = []
    if object_type in ("subnet", "port") and data.get("network_id"):
        refs.append(str(data["network_id"]))
    if object_type == "port":
        for fixed in data.get("fixed_ips") or []:
            if fixed.get("subnet_id"):
                refs.append(str(fixed["subnet_id"]))
        if str(data.get("device_owner", "")).startswith("network:router") and data.get("device_id"):
            refs.append(str(data["device_id"]))
    if object_type == "floatingip":
        for key in ("floating_network_id", "router_id", "port_id"):
            if data.get(key):
                refs.append(str(data[key]))
    return list(dict.fromkeys(refs))


@dataclass(frozen=True)
class JournalEntry:
    seqnum: int
    object_type: str
    object_uuid: str
    operation: Operation
    data: dict[str, Any]
    state: RowState
    retry_count: int
    last_retried: datetime | None
    version_id: int
    created_at: datetime
    updated_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        return {
            "seqnum": self.seqnum,
            "object_type": self.object_type,
            "object_uuid": self.object_uuid,
            "operation": str(self.operation),
            "state": str(self.state),
            "retry_count": self.retry_count,
            "last_retried": self.last_retried.isoformat() if self.last_retried else None,
            "version_id": self.version_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "data": self.data,
        }


# The row state machine -----------------------------------------------------------------------


class Outcome(StrEnum):
    SUCCESS = "success"
    CONNECTION_ERROR = "connection_error"
    ERROR = "error"


@dataclass(frozen=True)
class RowUpdate:
    state: RowState
    retry_count: int


def after_attempt(retry_count: int, outcome: Outcome, max_retries: int) -> RowUpdate:
    """PROCESSING -> COMPLETED on success; -> PENDING on a connection error (no retry
    counted); -> PENDING with one more retry on another error, FAILED at ``max_retries``."""
    if outcome is Outcome.SUCCESS:
        return RowUpdate(RowState.COMPLETED, retry_count)
    if outcome is Outcome.CONNECTION_ERROR:
        return RowUpdate(RowState.PENDING, retry_count)
    tries = retry_count + 1
    return RowUpdate(RowState.FAILED if tries >= max_retries else RowState.PENDING, tries)


class Recovery(StrEnum):
    COMPLETE = "complete"  # the controller already has what the row wanted
    RETRY = "retry"  # send the row again
    RECREATE = "recreate"  # record a create with the current data instead


def recover(operation: Operation, exists_on_controller: bool) -> Recovery:
    """What to do with a failed row once the controller says whether it has the object."""
    if operation is Operation.CREATE:
        return Recovery.COMPLETE if exists_on_controller else Recovery.RETRY
    if operation is Operation.DELETE:
        return Recovery.RETRY if exists_on_controller else Recovery.COMPLETE
    return Recovery.RETRY if exists_on_controller else Recovery.RECREATE


def next_backoff(current: float | None, initial: float, maximum: float) -> float:
    """0.1 s, 0.2 s, 0.4 s ... capped at ``maximum`` (60 s by default)."""
    if current is None:
        return initial
    return min(maximum, current * 2)


# A network full sync leaves on the controller: if it vanishes, the controller restarted
# empty (networking-odl's canary idea) and a full sync is due. Never compared, never synced.
CANARY_NETWORK_ID = "5e7a1c00-ca7a-4ce5-8e1d-57a7e3a2d000"
CANARY_NETWORK: dict[str, Any] = {
    "id": CANARY_NETWORK_ID,
    "name": "stateward-full-sync-canary",
    "tenant_id": "stateward",
    "project_id": "stateward",
    "admin_state_up": False,
    "shared": False,
}


# Full sync: compare both sides ---------------------------------------------------------------

# Fields the controller must agree on. Status fields are the controller's to set, timestamps
# and read-only extras are not part of the network's meaning.
COMPARED_FIELDS: dict[str, tuple[str, ...]] = {
    "network": (
        "name",
        "tenant_id",
        "admin_state_up",
        "shared",
        "router:external",
        "mtu",
        "provider:network_type",
        "provider:physical_network",
        "provider:segmentation_id",
        "revision_number",
    ),
    "subnet": (
        "name",
        "tenant_id",
        "network_id",
        "ip_version",
        "cidr",
        "gateway_ip",
        "enable_dhcp",
        "allocation_pools",
        "dns_nameservers",
        "host_routes",
        "revision_number",
    ),
    "port": (
        "name",
        "tenant_id",
        "network_id",
        "mac_address",
        "admin_state_up",
        "device_id",
        "device_owner",
        "fixed_ips",
        "binding:host_id",
        "binding:profile",
        "binding:vnic_type",
        "revision_number",
    ),
    "router": ("name", "tenant_id", "admin_state_up", "revision_number"),
    "floatingip": ("tenant_id", "floating_network_id", "port_id", "router_id", "revision_number"),
}


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        items = [_norm(v) for v in value]
        try:
            return sorted(items, key=repr)
        except TypeError:  # pragma: no cover - repr always sorts
            return items
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _field(body: Mapping[str, Any], name: str) -> Any:
    value = body.get(name)
    if name == "binding:profile":
        # ODL keeps a port's binding:profile as a JSON string; an absent one is empty.
        if isinstance(value, str):
            try:
                value = json.loads(value) if value else {}
            except ValueError:
                return value
        return value or {}
    return value


def differs(object_type: str, ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """The compared fields on which the controller's copy differs from ours."""
    return [
        f
        for f in COMPARED_FIELDS.get(object_type, ())
        if _norm(_field(ours, f)) != _norm(_field(theirs, f))
    ]


# Fields an update cannot change on the controller (ODL's northbound takes them at create
# only): a copy wrong in one of them is deleted and created again.
IMMUTABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "network": ("tenant_id",),
    "subnet": ("tenant_id", "network_id", "ip_version", "cidr"),
    "port": ("tenant_id", "network_id"),
    "router": ("tenant_id",),
}


@dataclass
class SyncPlan:
    """What full sync records to make the controller equal to the store."""

    creates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deletes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    recreates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.deletes or self.recreates)

    @property
    def size(self) -> int:
        return len(self.creates) + len(self.updates) + len(self.deletes) + len(self.recreates)

    def summary(self) -> dict[str, int]:
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "delete": len(self.deletes),
            "recreate": len(self.recreates),
        }


def plan_full_sync(
    ours: Mapping[str, Mapping[str, Mapping[str, Any]]],
    theirs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    busy: Iterable[str],
) -> SyncPlan:
    """Compare store and controller per type ({type: {uuid: body}}), skipping busy objects
    (rows in flight, or synced while the controller was being read)."""
    skip = set(busy)
    plan = SyncPlan()
    for object_type in SYNC_ORDER:
        mine = ours.get(object_type, {})
        other = theirs.get(object_type, {})
        for uuid, body in mine.items():
            if uuid in skip:
                continue
            if uuid not in other:
                plan.creates.append((object_type, dict(body)))
                continue
            wrong = differs(object_type, body, other[uuid])
            if set(wrong) & set(IMMUTABLE_FIELDS.get(object_type, ())):
                plan.recreates.append((object_type, dict(body)))
            elif wrong:
                plan.updates.append((object_type, dict(body)))
    for object_type in reversed(SYNC_ORDER):
        mine = ours.get(object_type, {})
        for uuid, body in theirs.get(object_type, {}).items():
            if uuid not in mine and uuid not in skip:
                plan.deletes.append((object_type, {"id": uuid, **_refs_only(body)}))
    return plan


def _refs_only(body: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("network_id", "fixed_ips", "device_owner", "device_id", "router_id", "port_id")
    return {k: body[k] for k in keys if k in body}
