"""Ports: addresses, MACs and the binding to a host (``binding_failed`` on a dead chassis)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from stateward.config import NetworkConfig
from stateward.domain import network as rules
from stateward.domain.errors import Conflict, InvalidInput
from stateward.domain.events import Envelope, utcnow
from stateward.domain.network import Port
from stateward.services.network import ipam
from stateward.services.network.base import Filters, not_found
from stateward.services.network.events import PUBLISHER, port_traits, resource_event
from stateward.services.network.views import port_view
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.network import NetworkRepository

# Answers whether a host may take a port binding: True (alive), False (down), None (unknown).
BindingCheck = Callable[[UnitOfWork, str], Awaitable[bool | None]]

# API attribute -> Port field, for the plain attributes an update may change.
UPDATABLE = {
    "name": "name",
    "description": "description",
    "admin_state_up": "admin_state_up",
    "device_id": "device_id",
    "device_owner": "device_owner",
    "status": "status",
    "data_plane_status": "data_plane_status",
    "binding:vnic_type": "binding_vnic_type",
}


class Ports:
    def __init__(
        self,
        store: Store,
        config: NetworkConfig,
        binding_check: BindingCheck | None = None,
        refuse_dead_binding: bool = False,
    ) -> None:
        self.store = store
        self.config = config
        self.binding_check = binding_check
        self.refuse_dead_binding = refuse_dead_binding

    @staticmethod
    def new(project_id: str, attrs: dict[str, Any]) -> Port:
        now = utcnow()
        return Port(
            id=str(uuid.uuid4()),
            project_id=project_id,
            network_id=attrs["network_id"],
            mac_address="",
            name=attrs.get("name", ""),
            description=attrs.get("description", ""),
            admin_state_up=attrs.get("admin_state_up", True),
            device_id=attrs.get("device_id", ""),
            device_owner=attrs.get("device_owner", ""),
            binding_host_id=attrs.get("binding:host_id", ""),
            binding_profile=dict(attrs.get("binding:profile") or {}),
            binding_vnic_type=attrs.get("binding:vnic_type", "normal"),
            created_at=now,
            updated_at=now,
        )

    async def create(self, project_id: str, attrs: dict[str, Any]) -> Port:
        async with self.store.uow() as uow:
            port = await self.add(uow, project_id, attrs)
            await uow.commit()
        return port

    async def add(self, uow: UnitOfWork, project_id: str, attrs: dict[str, Any]) -> Port:
        """Create a port inside the caller's transaction (routers create theirs this way)."""
        port = self.new(project_id, attrs)
        repo = NetworkRepository(uow)
        net = await repo.get_network(port.network_id)
        if net is None:
            raise not_found("Network", port.network_id)
        await self.bind(uow, port)
        await ipam.insert_with_mac(repo, port, attrs.get("mac_address"), self.config.base_mac)
        port.tunnel_key = await repo.assign_key("port", port.id, rules.PORT_KEY_MAX)
        port.fixed_ips = await ipam.allocate_ips(repo, port, net, attrs.get("fixed_ips"))
        uow.emit(
            resource_event(
                "port", "create", project_id, port.id, port_view(port), **port_traits(port)
            )
        )
        return port

    async def bind(self, uow: UnitOfWork, port: Port) -> None:
        """Bind the port to its host: ovs when the host is alive, binding_failed otherwise."""
        if not port.binding_host_id:
            port.binding_vif_type = rules.VIF_UNBOUND
            port.binding_vif_details = {}
            return
        alive: bool | None = True
        if self.binding_check is not None:
            alive = await self.binding_check(uow, port.binding_host_id)
        if alive:
            port.binding_vif_type = rules.VIF_OVS
            port.binding_vif_details = {"port_filter": True, "ovs_hybrid_plug": False}
        elif self.refuse_dead_binding:
            raise Conflict(
                f"Binding refused: host {port.binding_host_id} is "
                f"{'down' if alive is False else 'unknown'}.",
                kind="PortBindingError",
            )
        else:
            port.binding_vif_type = rules.VIF_BINDING_FAILED
            port.binding_vif_details = {}
            # Name the chassis, so operators and alarms see why the binding failed.
            uow.emit(
                Envelope(
                    event_type="port.binding.failed",
                    publisher_id=PUBLISHER,
                    project_id=port.project_id,
                    resource_id=port.id,
                    priority="ERROR",
                    traits={
                        "host": port.binding_host_id,
                        "chassis": port.binding_host_id,
                        "port_id": port.id,
                        "tenant_id": port.project_id,
                        "project_id": port.project_id,
                        "reason": "chassis down" if alive is False else "chassis unknown",
                    },
                )
            )

    async def get(self, port_id: str) -> Port:
        async with self.store.uow(readonly=True) as uow:
            port = await NetworkRepository(uow).get_port(port_id)
        if port is None:
            raise not_found("Port", port_id)
        return port

    async def list(
        self,
        filters: Filters,
        *,
        visible_to: str | None,
        limit: int | None = None,
        marker: str | None = None,
        fixed_ip_filters: list[dict[str, str]] | None = None,
        **_extra: Any,
    ) -> list[Port]:
        async with self.store.uow(readonly=True) as uow:
            return await NetworkRepository(uow).list_ports(
                filters,
                visible_to=visible_to,
                limit=limit,
                marker=marker,
                fixed_ip_filters=fixed_ip_filters,
            )

    async def update(self, port_id: str, changes: dict[str, Any]) -> Port:
        async with self.store.uow() as uow:
            port = await NetworkRepository(uow).get_port(port_id)
            if port is None:
                raise not_found("Port", port_id)
            await self.change(uow, port, changes)
            await uow.commit()
        return port

    async def change(self, uow: UnitOfWork, port: Port, changes: dict[str, Any]) -> Port:
        """Update ``port`` inside the caller's transaction (a server binds its ports so)."""
        repo = NetworkRepository(uow)
        before = replace(port)
        for key, attr in UPDATABLE.items():
            if key in changes:
                setattr(port, attr, changes[key])
        if "binding:profile" in changes:
            port.binding_profile = dict(changes["binding:profile"] or {})
        if "binding:host_id" in changes and changes["binding:host_id"] != before.binding_host_id:
            port.binding_host_id = changes["binding:host_id"] or ""
            await self.bind(uow, port)
        if "mac_address" in changes and changes["mac_address"] != port.mac_address:
            raise InvalidInput("mac_address cannot be changed on a port")
        if "fixed_ips" in changes:
            net = await repo.get_network(port.network_id)
            assert net is not None
            await repo.release_ips(port.id)
            port.fixed_ips = await ipam.allocate_ips(repo, port, net, changes["fixed_ips"])
        port.revision_number += 1
        port.updated_at = utcnow()
        await repo.update_port(port)
        traits = port_traits(port)
        traits["old_status"] = before.status
        traits["old_data_plane_status"] = before.data_plane_status
        uow.emit(
            resource_event("port", "update", port.project_id, port.id, port_view(port), **traits)
        )
        return port

    async def delete(self, port_id: str) -> None:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            port = await repo.get_port(port_id)
            if port is None:
                raise not_found("Port", port_id)
            await self.remove(uow, port)
            await uow.commit()

    @staticmethod
    async def remove(uow: UnitOfWork, port: Port) -> None:
        """Delete ``port`` and notify, inside the caller's transaction."""
        await NetworkRepository(uow).delete_port(port.id)
        uow.emit(
            resource_event(
                "port", "delete", port.project_id, port.id, port_view(port), **port_traits(port)
            )
        )
