"""Subnets: addressing rules (CIDR, gateway, pools) checked before anything is written."""

from __future__ import annotations

import uuid
from typing import Any

from stateward.domain import network as rules
from stateward.domain.errors import Conflict, InvalidInput
from stateward.domain.events import utcnow
from stateward.domain.network import AllocationPool, Subnet
from stateward.services.network.base import Filters, not_found
from stateward.services.network.events import resource_event
from stateward.services.network.views import subnet_view
from stateward.store.db import Store
from stateward.store.repositories.network import NetworkRepository


def _pools(items: list[dict[str, Any]]) -> list[AllocationPool]:
    return [
        AllocationPool(rules.validate_ip(p["start"]), rules.validate_ip(p["end"])) for p in items
    ]


def new_subnet(project_id: str, attrs: dict[str, Any]) -> Subnet:
    """A subnet from API attributes, with Neutron's defaults (gateway .1, pools around it)."""
    cidr, version = rules.normalise_cidr(attrs["cidr"])
    if "ip_version" in attrs and attrs["ip_version"] != version:
        raise InvalidInput(
            f"Invalid input: cidr {cidr} does not match ip_version {attrs['ip_version']}"
        )
    if "gateway_ip" in attrs:
        gateway = attrs["gateway_ip"]
        if gateway is not None:
            gateway = rules.validate_gateway(gateway, cidr)
    else:
        gateway = rules.default_gateway(cidr)
    if attrs.get("allocation_pools"):
        pools = _pools(attrs["allocation_pools"])
        rules.validate_pools(cidr, gateway, pools)
    else:
        pools = rules.default_pools(cidr, gateway)
    now = utcnow()
    return Subnet(
        id=str(uuid.uuid4()),
        project_id=project_id,
        network_id=attrs["network_id"],
        name=attrs.get("name", ""),
        ip_version=version,
        cidr=cidr,
        gateway_ip=gateway,
        allocation_pools=pools,
        enable_dhcp=attrs.get("enable_dhcp", True),
        dns_nameservers=list(attrs.get("dns_nameservers") or []),
        host_routes=list(attrs.get("host_routes") or []),
        description=attrs.get("description", ""),
        created_at=now,
        updated_at=now,
    )


class Subnets:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, project_id: str, attrs: dict[str, Any]) -> Subnet:
        subnet = new_subnet(project_id, attrs)
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            await self.add(repo, subnet)
            uow.emit(
                resource_event(
                    "subnet",
                    "create",
                    project_id,
                    subnet.id,
                    subnet_view(subnet),
                    network_id=subnet.network_id,
                    cidr=subnet.cidr,
                )
            )
            await uow.commit()
        return subnet

    @staticmethod
    async def add(repo: NetworkRepository, subnet: Subnet) -> None:
        """Insert ``subnet`` on its network (no overlap) inside the caller's transaction."""
        net = await repo.get_network(subnet.network_id)
        if net is None:
            raise not_found("Network", subnet.network_id)
        for other in await repo.list_subnets({"network_id": [net.id]}):
            if rules.cidrs_overlap(other.cidr, subnet.cidr):
                raise InvalidInput(
                    f"Invalid input for operation: Requested subnet with "
                    f"cidr: {subnet.cidr} for network: {net.id} overlaps with "
                    f"another subnet."
                )
        await repo.add_subnet(subnet)

    async def get(self, subnet_id: str) -> Subnet:
        async with self.store.uow(readonly=True) as uow:
            subnet = await NetworkRepository(uow).get_subnet(subnet_id)
        if subnet is None:
            raise not_found("Subnet", subnet_id)
        return subnet

    async def list(
        self,
        filters: Filters,
        *,
        visible_to: str | None,
        limit: int | None = None,
        marker: str | None = None,
        **_extra: Any,
    ) -> list[Subnet]:
        async with self.store.uow(readonly=True) as uow:
            return await NetworkRepository(uow).list_subnets(
                filters, visible_to=visible_to, limit=limit, marker=marker
            )

    async def update(self, subnet_id: str, changes: dict[str, Any]) -> Subnet:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            subnet = await repo.get_subnet(subnet_id)
            if subnet is None:
                raise not_found("Subnet", subnet_id)
            for key in ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes"):
                if key in changes:
                    setattr(subnet, key, changes[key])
            if "gateway_ip" in changes:
                gateway = changes["gateway_ip"]
                if gateway is not None:
                    gateway = rules.validate_gateway(gateway, subnet.cidr)
                subnet.gateway_ip = gateway
            if "allocation_pools" in changes:
                subnet.allocation_pools = _pools(changes["allocation_pools"])
            rules.validate_pools(subnet.cidr, subnet.gateway_ip, subnet.allocation_pools)
            subnet.revision_number += 1
            subnet.updated_at = utcnow()
            await repo.update_subnet(subnet)
            uow.emit(
                resource_event(
                    "subnet",
                    "update",
                    subnet.project_id,
                    subnet.id,
                    subnet_view(subnet),
                    network_id=subnet.network_id,
                )
            )
            await uow.commit()
        return subnet

    async def delete(self, subnet_id: str) -> None:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            subnet = await repo.get_subnet(subnet_id)
            if subnet is None:
                raise not_found("Subnet", subnet_id)
            if await repo.subnet_in_use(subnet_id):
                raise Conflict(
                    f"Unable to complete operation on subnet {subnet_id}: One or "
                    f"more ports have an IP allocation from this subnet.",
                    kind="SubnetInUse",
                )
            await repo.delete_subnet(subnet_id)
            uow.emit(
                resource_event(
                    "subnet",
                    "delete",
                    subnet.project_id,
                    subnet.id,
                    subnet_view(subnet),
                    network_id=subnet.network_id,
                )
            )
            await uow.commit()
