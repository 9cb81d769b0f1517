"""Networks: create with a segment (allocated or requested), update, delete with its subnets."""

from __future__ import annotations

import uuid
from typing import Any

from stateward.config import NetworkConfig
from stateward.domain import network as rules
from stateward.domain.errors import Conflict, InvalidInput
from stateward.domain.events import utcnow
from stateward.domain.network import Network
from stateward.services.network.base import Filters, not_found
from stateward.services.network.events import resource_event
from stateward.services.network.views import network_view
from stateward.store.db import Store
from stateward.store.repositories.network import NetworkRepository

# API attribute -> Network field, for the attributes an update may change.
UPDATABLE = {
    "name": "name",
    "description": "description",
    "admin_state_up": "admin_state_up",
    "shared": "shared",
    "router:external": "external",
    "mtu": "mtu",
}


class Networks:
    def __init__(self, store: Store, config: NetworkConfig) -> None:
        self.store = store
        self.config = config
        self._ranges = {
            "vxlan": rules.parse_ranges(config.vxlan_vni_ranges, "vxlan"),
            "geneve": rules.parse_ranges(config.geneve_vni_ranges, "geneve"),
            "gre": rules.parse_ranges(config.gre_id_ranges, "gre"),
            "vlan": rules.parse_ranges(config.vlan_ranges, "vlan"),
        }

    def new(self, project_id: str, attrs: dict[str, Any]) -> Network:
        """A network from API attributes (validated, not stored yet)."""
        now = utcnow()
        network_type = attrs.get("provider:network_type") or self.config.default_network_type
        seg_id = attrs.get("provider:segmentation_id")
        physnet = attrs.get("provider:physical_network")
        rules.validate_segment(network_type, seg_id, physnet)
        return Network(
            id=str(uuid.uuid4()),
            project_id=project_id,
            name=attrs.get("name", ""),
            description=attrs.get("description", ""),
            network_type=network_type,
            segmentation_id=seg_id,
            physical_network=physnet,
            admin_state_up=attrs.get("admin_state_up", True),
            shared=attrs.get("shared", False),
            external=attrs.get("router:external", False),
            mtu=attrs.get("mtu") or rules.MTU_BY_TYPE[network_type],
            created_at=now,
            updated_at=now,
        )

    async def create(self, project_id: str, attrs: dict[str, Any]) -> Network:
        net = self.new(project_id, attrs)
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            await self.add(repo, net)
            uow.emit(
                resource_event(
                    "network",
                    "create",
                    project_id,
                    net.id,
                    network_view(net),
                    network_type=net.network_type,
                    segmentation_id=net.segmentation_id,
                )
            )
            await uow.commit()
        return net

    async def add(self, repo: NetworkRepository, net: Network) -> None:
        """Insert ``net`` and reserve its segment, inside the caller's transaction."""
        await repo.add_network(net)
        network_type, seg_id, physnet = net.network_type, net.segmentation_id, net.physical_network
        if network_type == "flat":
            if not physnet:
                raise InvalidInput("provider:physical_network is required for flat networks")
            if not await repo.reserve_segment("flat", physnet, 0, net.id):
                raise Conflict(f"Physical network {physnet} is in use.")
        elif seg_id is not None:
            if network_type == "vlan" and not physnet:
                raise InvalidInput("provider:physical_network is required for vlan networks")
            if not await repo.reserve_segment(network_type, physnet or "", seg_id, net.id):
                raise Conflict(
                    f"Unable to create the network. The {network_type} "
                    f"segmentation ID {seg_id} is in use."
                )
        else:
            net.physical_network, net.segmentation_id = await self._allocate_segment(
                repo, network_type, physnet, net.id
            )
            net.physical_network = net.physical_network or None
        net.local_key = await repo.assign_key("network", net.id, rules.NETWORK_KEY_MAX)
        await repo.update_network(net)

    async def _allocate_segment(
        self, repo: NetworkRepository, network_type: str, physnet: str | None, network_id: str
    ) -> tuple[str, int]:
        for _ in range(10):
            used = await repo.used_segments(network_type)
            chosen = rules.pick_segment(self._ranges[network_type], used, physnet)
            if await repo.reserve_segment(network_type, chosen[0], chosen[1], network_id):
                return chosen
        raise Conflict("Unable to allocate a segment after several attempts; retry.")

    async def get(self, network_id: str) -> Network:
        async with self.store.uow(readonly=True) as uow:
            net = await NetworkRepository(uow).get_network(network_id)
        if net is None:
            raise not_found("Network", network_id)
        return net

    async def list(
        self,
        filters: Filters,
        *,
        visible_to: str | None,
        limit: int | None = None,
        marker: str | None = None,
        **_extra: Any,
    ) -> list[Network]:
        async with self.store.uow(readonly=True) as uow:
            return await NetworkRepository(uow).list_networks(
                filters, visible_to=visible_to, limit=limit, marker=marker
            )

    async def update(self, network_id: str, changes: dict[str, Any]) -> Network:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            net = await repo.get_network(network_id)
            if net is None:
                raise not_found("Network", network_id)
            for key, attr in UPDATABLE.items():
                if key in changes:
                    setattr(net, attr, changes[key])
            net.revision_number += 1
            net.updated_at = utcnow()
            await repo.update_network(net)
            uow.emit(resource_event("network", "update", net.project_id, net.id, network_view(net)))
            await uow.commit()
        return net

    async def delete(self, network_id: str) -> None:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            net = await repo.get_network(network_id)
            if net is None:
                raise not_found("Network", network_id)
            if await repo.network_in_use(network_id):
                raise Conflict(
                    f"Unable to complete operation on network {network_id}. There "
                    f"are one or more ports still in use on the network.",
                    kind="NetworkInUse",
                )
            await self.remove(repo, net)
            uow.emit(resource_event("network", "delete", net.project_id, net.id, network_view(net)))
            await uow.commit()

    @staticmethod
    async def remove(repo: NetworkRepository, net: Network) -> None:
        """Delete ``net``, its subnets and its segment inside the caller's transaction."""
        for subnet_id in net.subnet_ids:
            await repo.delete_subnet(subnet_id)
        await repo.release_segments(net.id)
        await repo.delete_network(net.id)
