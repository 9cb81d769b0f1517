"""Compute use cases: hosts' nova-compute services, registered servers, and marking a host down.

``apply_host_down`` is the one place a host fault changes state: the compute service is forced
down (compare-and-set, so it happens once whichever process gets there first), the host's
servers move to ``[compute] host_down_server_state`` and, when asked, the host's ports get
``data_plane_status`` DOWN — all in the caller's transaction, with set-based statements, and one
notification per changed resource written to the outbox with them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stateward.config import ComputeConfig, LivenessConfig
from stateward.domain import compute as rules
from stateward.domain.compute import ComputeServiceView, Server, ServerState
from stateward.domain.errors import NotFound
from stateward.domain.events import Envelope, TraceContext, deterministic_id, utcnow
from stateward.profiler.hooks import stamp_committed
from stateward.profiler.stamp import stamp
from stateward.services.network import port_traits, port_view
from stateward.services.server_ports import ServerPorts
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.chassis import ChassisRepository
from stateward.store.repositories.compute import ComputeRepository, ServerChange
from stateward.store.repositories.network import NetworkRepository

PUBLISHER = "compute.stateward"
INSTANCE_UPDATE = "compute.instance.update"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def instance_event(
    server: Server,
    old: ServerState | None,
    event_type: str = INSTANCE_UPDATE,
    *,
    trace: TraceContext | None = None,
    reason: str | None = None,
) -> Envelope:
    """Nova-style instance notification; traits are what alarms match on."""
    traits: dict[str, Any] = {
        "instance_id": server.id,
        "tenant_id": server.project_id,
        "project_id": server.project_id,
        "user_id": server.user_id,
        "host": server.host,
        "display_name": server.name,
        "state": server.vm_state,
        "old_state": old.vm_state if old else None,
        "task_state": server.task_state,
        "old_task_state": old.task_state if old else None,
        "power_state": server.power_state,
        "status": server.status,
        "vcpus": server.vcpus,
        "memory_mb": server.memory_mb,
        "flavor_id": server.flavor_ref,
    }
    if reason:
        traits["state_description"] = reason
    payload = {
        "instance_id": server.id,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "host": server.host,
        "display_name": server.name,
        "state": server.vm_state,
        "old_state": traits["old_state"],
        "new_task_state": server.task_state,
        "old_task_state": traits["old_task_state"],
        "power_state": server.power_state,
        "image_ref_url": server.image_ref,
        "instance_type_id": server.flavor_ref,
        "availability_zone": server.availability_zone,
        "metadata": dict(server.metadata),
        "state_description": reason or "",
        "updated_at": _iso(server.updated_at),
    }
    stamp = _iso(server.updated_at) or uuid.uuid4().hex
    return Envelope(
        event_type=event_type,
        publisher_id=f"{PUBLISHER}.{server.host}",
        project_id=server.project_id,
        resource_id=server.id,
        traits=traits,
        payload=payload,
        message_id=deterministic_id(event_type, server.id, stamp, server.vm_state),
        trace=trace,
    )


def service_event(view: ComputeServiceView, *, trace: TraceContext | None = None) -> Envelope:
    traits = {
        "host": view.host,
        "binary": rules.COMPUTE_BINARY,
        "service_id": view.id,
        "forced_down": view.forced_down,
        "disabled": view.disabled,
        "disabled_reason": view.disabled_reason,
        "state": view.state,
    }
    return Envelope(
        event_type="service.update",
        publisher_id=f"{PUBLISHER}.{view.host}",
        resource_id=view.id,
        traits=traits,
        payload={"service": dict(traits)},
        trace=trace,
    )


@dataclass
class HostDownResult:
    host: str
    forced: bool  # this call flipped forced_down (False: it was already down)
    servers: list[ServerChange] = field(default_factory=list)
    ports: list[Any] = field(default_factory=list)  # (Port, old data_plane_status)


async def apply_host_down(
    uow: UnitOfWork,
    host: str,
    *,
    mode: rules.FaultMode,
    ports: bool,
    now: datetime,
    trace: TraceContext | None = None,
    reason: str = "host down",
    only_if_flipped: bool = True,
) -> HostDownResult:
    """Force ``host``'s compute service down and move what lives on it, in ``uow``.

    With ``only_if_flipped`` nothing else happens when the service was already forced down
    (a duplicate raw failure); the operator's own force-down API always re-applies.
    """
    compute = ComputeRepository(uow)
    flipped = await compute.set_forced_down(host, True, now)
    result = HostDownResult(host, flipped)
    if not flipped and only_if_flipped:
        return result
    stamp(trace, "T03", host=host)  # profiler: the forced_down compare-and-set won
    result.servers = await compute.move_host_servers(host, mode, now)
    for change in result.servers:
        uow.emit(instance_event(change.server, change.old, trace=trace, reason=reason))
    if ports:
        result.ports = await NetworkRepository(uow).set_host_data_plane_status(host, "DOWN", now)
        for port, old in result.ports:
            traits = port_traits(port)
            traits.update(
                tenant_id=port.project_id,
                project_id=port.project_id,
                port_id=port.id,
                old_status=port.status,
                old_data_plane_status=old,
            )
            uow.emit(
                Envelope(
                    event_type="port.update.end",
                    publisher_id="network.stateward",
                    project_id=port.project_id,
                    resource_id=port.id,
                    traits=traits,
                    payload={"port": port_view(port)},
                    message_id=deterministic_id("port.update.end", port.id, port.revision_number),
                    trace=trace,
                )
            )
    return result


class ComputeService:
    def __init__(
        self,
        store: Store,
        config: ComputeConfig,
        liveness: LivenessConfig,
        now: Callable[[], datetime] = utcnow,
        ports: ServerPorts | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.liveness = liveness
        self.now = now
        self.ports = ports
        store.add_commit_listener(stamp_committed)  # profiler T04: the VMs' new state committed

    # services ---------------------------------------------------------------------------
    async def _views(self, uow: UnitOfWork, hosts: list[str] | None) -> list[ComputeServiceView]:
        chassis = await ChassisRepository(uow).list(hosts)
        overrides = await ComputeRepository(uow).overrides([c.name for c in chassis])
        now = self.now()
        return [
            rules.compute_service(
                c.name,
                c.is_active(now, self.liveness.chassis_down_time),
                overrides.get(c.name),
                c.heartbeat_at,
            )
            for c in chassis
        ]

    async def list_services(
        self, host: str | None = None, binary: str | None = None
    ) -> list[ComputeServiceView]:
        if binary is not None and binary != rules.COMPUTE_BINARY:
            return []
        async with self.store.uow(readonly=True) as uow:
            return await self._views(uow, [host] if host is not None else None)

    async def service(self, host: str) -> ComputeServiceView | None:
        views = await self.list_services(host)
        return views[0] if views else None

    async def service_by_id(self, service_id: str) -> ComputeServiceView:
        for view in await self.list_services():
            if view.id == service_id:
                return view
        raise NotFound(f"Service {service_id} could not be found.")

    async def host_status(self, hosts: list[str]) -> dict[str, str]:
        if not hosts:
            return {}
        async with self.store.uow(readonly=True) as uow:
            return {v.host: v.host_status for v in await self._views(uow, sorted(set(hosts)))}

    async def update_service(
        self,
        host: str,
        *,
        status: str | None = None,
        disabled_reason: str | None = None,
        forced_down: bool | None = None,
        trace: TraceContext | None = None,
    ) -> tuple[ComputeServiceView, HostDownResult | None]:
        """Enable/disable and force down/up one host's compute service.

        Forcing down also moves the host's servers to the fault state in the same
        transaction; clearing forced_down restores the service only.
        """
        now = self.now()
        result = None
        async with self.store.uow() as uow:
            if await ChassisRepository(uow).get(host) is None:
                raise NotFound(f"Compute host {host} could not be found.")
            compute = ComputeRepository(uow)
            values: dict[str, Any] = {}
            if status is not None:
                values["disabled"] = status == "disabled"
                values["disabled_reason"] = disabled_reason if status == "disabled" else None
            elif disabled_reason is not None:
                values["disabled_reason"] = disabled_reason
            if values:
                await compute.update_override(host, now, **values)
            if forced_down is True:
                result = await apply_host_down(
                    uow,
                    host,
                    mode=self.config.host_down_server_state,
                    ports=False,
                    now=now,
                    trace=trace,
                    reason="compute service forced down",
                    only_if_flipped=False,
                )
            elif forced_down is False:
                await compute.set_forced_down(host, False, now)
            view = (await self._views(uow, [host]))[0]
            uow.emit(service_event(view, trace=trace))
            await uow.commit()
        return view, result

    # servers ----------------------------------------------------------------------------
    async def get_server(self, server_id: str) -> Server:
        async with self.store.uow(readonly=True) as uow:
            server = await ComputeRepository(uow).get_server(server_id)
        if server is None:
            raise NotFound(f"Instance {server_id} could not be found.")
        return server

    async def list_servers(self, **filters: Any) -> list[Server]:
        async with self.store.uow(readonly=True) as uow:
            return await ComputeRepository(uow).list_servers(**filters)

    async def _change(self, server_id: str, change: Callable[[Server], str | None]) -> Server:
        async with self.store.uow() as uow:
            repo = ComputeRepository(uow)
            server = await repo.get_server(server_id, lock=True)
            if server is None:
                raise NotFound(f"Instance {server_id} could not be found.")
            old = server.state
            event_type = change(server)
            server.updated_at = self.now()
            await repo.save_server(server)
            if event_type:
                uow.emit(instance_event(server, old, event_type))
            await uow.commit()
        return server

    async def reset_state(self, server_id: str, state: str) -> Server:
        def go(server: Server) -> str:
            server.apply(rules.reset_state(server.state, state))
            return INSTANCE_UPDATE

        return await self._change(server_id, go)

    async def update_server(self, server_id: str, changes: dict[str, Any]) -> Server:
        def go(server: Server) -> str:
            if "name" in changes:
                server.name = changes["name"]
            if "description" in changes:
                server.description = changes["description"]
            return INSTANCE_UPDATE

        return await self._change(server_id, go)

    async def set_metadata(
        self, server_id: str, items: dict[str, str], *, replace: bool = False
    ) -> Server:
        def go(server: Server) -> str:
            server.metadata = dict(items) if replace else {**server.metadata, **items}
            return INSTANCE_UPDATE

        return await self._change(server_id, go)

    async def delete_metadata_key(self, server_id: str, key: str) -> Server:
        def go(server: Server) -> str:
            if key not in server.metadata:
                raise NotFound(f"Metadata item was not found: {key}")
            del server.metadata[key]
            return INSTANCE_UPDATE

        return await self._change(server_id, go)

    async def delete_server(self, server_id: str) -> None:
        """Gone from listings at once; the ports it made go with it, given ones are unbound."""
        async with self.store.uow() as uow:
            repo = ComputeRepository(uow)
            server = await repo.get_server(server_id, lock=True)
            if server is None:
                raise NotFound(f"Instance {server_id} could not be found.")
            old = server.state
            server.vm_state = rules.DELETED
            server.task_state = None
            server.power_state = rules.NOSTATE
            server.deleted_at = server.updated_at = self.now()
            await repo.save_server(server)
            if self.ports is not None:
                await self.ports.release(uow, server.id, set(server.created_ports))
            uow.emit(instance_event(server, old, "compute.instance.delete.end"))
            await uow.commit()

    async def addresses(self, server_ids: list[str]) -> dict[str, dict[str, list[Any]]]:
        """Nova's ``addresses`` of each server (its ports' fixed IPs by network name)."""
        if self.ports is None or not server_ids:
            return {}
        async with self.store.uow(readonly=True) as uow:
            return await self.ports.addresses(uow, server_ids)
