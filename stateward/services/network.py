"""Network use cases: networks, subnets and ports, each change one transaction + notification."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from stateward.config import NetworkConfig
from stateward.domain import network as rules
from stateward.domain.errors import Conflict, InvalidInput, NotFound
from stateward.domain.events import Envelope, utcnow
from stateward.domain.network import AllocationPool, FixedIP, Network, Port, Subnet
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.network import Filters, NetworkRepository

PUBLISHER = "network.stateward"

# Answers whether a host may take a port binding: True (alive), False (down), None (unknown).
BindingCheck = Callable[[UnitOfWork, str], Awaitable[bool | None]]


def _ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def network_view(n: Network) -> dict[str, Any]:
    """Neutron v2.0's representation of a network (also the notification payload)."""
    return {
        "id": n.id,
        "name": n.name,
        "description": n.description,
        "tenant_id": n.project_id,
        "project_id": n.project_id,
        "admin_state_up": n.admin_state_up,
        "status": n.status,
        "shared": n.shared,
        "router:external": n.external,
        "mtu": n.mtu,
        "subnets": list(n.subnet_ids),
        "provider:network_type": n.network_type,
        "provider:physical_network": n.physical_network,
        "provider:segmentation_id": n.segmentation_id,
        "availability_zone_hints": [],
        "availability_zones": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "port_security_enabled": True,
        "is_default": False,
        "l2_adjacency": True,
        "tags": [],
        "revision_number": n.revision_number,
        "created_at": _ts(n.created_at),
        "updated_at": _ts(n.updated_at),
    }


def subnet_view(s: Subnet) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "tenant_id": s.project_id,
        "project_id": s.project_id,
        "network_id": s.network_id,
        "ip_version": s.ip_version,
        "cidr": s.cidr,
        "gateway_ip": s.gateway_ip,
        "enable_dhcp": s.enable_dhcp,
        "allocation_pools": [{"start": p.start, "end": p.end} for p in s.allocation_pools],
        "dns_nameservers": list(s.dns_nameservers),
        "host_routes": list(s.host_routes),
        "ipv6_address_mode": None,
        "ipv6_ra_mode": None,
        "subnetpool_id": None,
        "service_types": [],
        "segment_id": None,
        "dns_publish_fixed_ip": False,
        "tags": [],
        "revision_number": s.revision_number,
        "created_at": _ts(s.created_at),
        "updated_at": _ts(s.updated_at),
    }


def port_view(p: Port) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "tenant_id": p.project_id,
        "project_id": p.project_id,
        "network_id": p.network_id,
        "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up,
        "status": p.status,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": [{"subnet_id": f.subnet_id, "ip_address": f.ip_address} for f in p.fixed_ips],
        "binding:host_id": p.binding_host_id,
        "binding:profile": dict(p.binding_profile),
        "binding:vnic_type": p.binding_vnic_type,
        "binding:vif_type": p.binding_vif_type,
        "binding:vif_details": dict(p.binding_vif_details),
        "data_plane_status": p.data_plane_status,
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": [],
        "port_security_enabled": True,
        "dns_name": "",
        "dns_assignment": [],
        "propagate_uplink_status": False,
        "tags": [],
        "revision_number": p.revision_number,
        "created_at": _ts(p.created_at),
        "updated_at": _ts(p.updated_at),
    }


def _event(
    kind: str, action: str, project_id: str, resource_id: str, view: dict[str, Any], **traits: Any
) -> Envelope:
    return Envelope(
        event_type=f"{kind}.{action}.end",
        publisher_id=PUBLISHER,
        project_id=project_id,
        resource_id=resource_id,
        payload={kind: view},
        traits={
            "tenant_id": project_id,
            "project_id": project_id,
            f"{kind}_id": resource_id,
            **traits,
        },
    )


def port_traits(p: Port) -> dict[str, Any]:
    return {
        "network_id": p.network_id,
        "host": p.binding_host_id,
        "status": p.status,
        "device_id": p.device_id,
        "data_plane_status": p.data_plane_status,
    }


class NetworkService:
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
        self._ranges = {
            "vxlan": rules.parse_ranges(config.vxlan_vni_ranges, "vxlan"),
            "geneve": rules.parse_ranges(config.geneve_vni_ranges, "geneve"),
            "gre": rules.parse_ranges(config.gre_id_ranges, "gre"),
            "vlan": rules.parse_ranges(config.vlan_ranges, "vlan"),
        }

    # networks ---------------------------------------------------------------------------
    async def create_network(self, project_id: str, attrs: dict[str, Any]) -> Network:
        now = utcnow()
        network_type = attrs.get("provider:network_type") or self.config.default_network_type
        seg_id = attrs.get("provider:segmentation_id")
        physnet = attrs.get("provider:physical_network")
        rules.validate_segment(network_type, seg_id, physnet)
        net = Network(
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
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            await repo.add_network(net)
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
            uow.emit(
                _event(
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

    async def _allocate_segment(
        self, repo: NetworkRepository, network_type: str, physnet: str | None, network_id: str
    ) -> tuple[str, int]:
        for _ in range(10):
            used = await repo.used_segments(network_type)
            chosen = rules.pick_segment(self._ranges[network_type], used, physnet)
            if await repo.reserve_segment(network_type, chosen[0], chosen[1], network_id):
                return chosen
        raise Conflict("Unable to allocate a segment after several attempts; retry.")

    async def get_network(self, network_id: str) -> Network:
        async with self.store.uow(readonly=True) as uow:
            net = await NetworkRepository(uow).get_network(network_id)
        if net is None:
            raise NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound")
        return net

    async def list_networks(
        self,
        filters: Filters,
        *,
        visible_to: str | None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> list[Network]:
        async with self.store.uow(readonly=True) as uow:
            return await NetworkRepository(uow).list_networks(
                filters, visible_to=visible_to, limit=limit, marker=marker
            )

    async def update_network(self, network_id: str, changes: dict[str, Any]) -> Network:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            net = await repo.get_network(network_id)
            if net is None:
                raise NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound")
            for key, attr in (
                ("name", "name"),
                ("description", "description"),
                ("admin_state_up", "admin_state_up"),
                ("shared", "shared"),
                ("router:external", "external"),
                ("mtu", "mtu"),
            ):
                if key in changes:
                    setattr(net, attr, changes[key])
            net.revision_number += 1
            net.updated_at = utcnow()
            await repo.update_network(net)
            uow.emit(_event("network", "update", net.project_id, net.id, network_view(net)))
            await uow.commit()
        return net

    async def delete_network(self, network_id: str) -> None:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            net = await repo.get_network(network_id)
            if net is None:
                raise NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound")
            if await repo.network_in_use(network_id):
                raise Conflict(
                    f"Unable to complete operation on network {network_id}. There "
                    f"are one or more ports still in use on the network.",
                    kind="NetworkInUse",
                )
            for subnet_id in net.subnet_ids:
                await repo.delete_subnet(subnet_id)
            await repo.release_segments(network_id)
            await repo.delete_network(network_id)
            uow.emit(_event("network", "delete", net.project_id, net.id, network_view(net)))
            await uow.commit()

    # subnets ----------------------------------------------------------------------------
    async def create_subnet(self, project_id: str, attrs: dict[str, Any]) -> Subnet:
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
            pools = [
                AllocationPool(rules.validate_ip(p["start"]), rules.validate_ip(p["end"]))
                for p in attrs["allocation_pools"]
            ]
            rules.validate_pools(cidr, gateway, pools)
        else:
            pools = rules.default_pools(cidr, gateway)
        now = utcnow()
        subnet = Subnet(
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
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            net = await repo.get_network(subnet.network_id)
            if net is None:
                raise NotFound(
                    f"Network {subnet.network_id} could not be found.", kind="NetworkNotFound"
                )
            for other in await repo.list_subnets({"network_id": [net.id]}):
                if rules.cidrs_overlap(other.cidr, cidr):
                    raise InvalidInput(
                        f"Invalid input for operation: Requested subnet with "
                        f"cidr: {cidr} for network: {net.id} overlaps with "
                        f"another subnet."
                    )
            await repo.add_subnet(subnet)
            uow.emit(
                _event(
                    "subnet",
                    "create",
                    project_id,
                    subnet.id,
                    subnet_view(subnet),
                    network_id=net.id,
                    cidr=cidr,
                )
            )
            await uow.commit()
        return subnet

    async def get_subnet(self, subnet_id: str) -> Subnet:
        async with self.store.uow(readonly=True) as uow:
            subnet = await NetworkRepository(uow).get_subnet(subnet_id)
        if subnet is None:
            raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
        return subnet

    async def list_subnets(
        self,
        filters: Filters,
        *,
        visible_to: str | None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> list[Subnet]:
        async with self.store.uow(readonly=True) as uow:
            return await NetworkRepository(uow).list_subnets(
                filters, visible_to=visible_to, limit=limit, marker=marker
            )

    async def update_subnet(self, subnet_id: str, changes: dict[str, Any]) -> Subnet:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            subnet = await repo.get_subnet(subnet_id)
            if subnet is None:
                raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
            for key in ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes"):
                if key in changes:
                    setattr(subnet, key, changes[key])
            if "gateway_ip" in changes:
                gateway = changes["gateway_ip"]
                if gateway is not None:
                    gateway = rules.validate_gateway(gateway, subnet.cidr)
                subnet.gateway_ip = gateway
            if "allocation_pools" in changes:
                subnet.allocation_pools = [
                    AllocationPool(rules.validate_ip(p["start"]), rules.validate_ip(p["end"]))
                    for p in changes["allocation_pools"]
                ]
            rules.validate_pools(subnet.cidr, subnet.gateway_ip, subnet.allocation_pools)
            subnet.revision_number += 1
            subnet.updated_at = utcnow()
            await repo.update_subnet(subnet)
            uow.emit(
                _event(
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

    async def delete_subnet(self, subnet_id: str) -> None:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            subnet = await repo.get_subnet(subnet_id)
            if subnet is None:
                raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
            if await repo.subnet_in_use(subnet_id):
                raise Conflict(
                    f"Unable to complete operation on subnet {subnet_id}: One or "
                    f"more ports have an IP allocation from this subnet.",
                    kind="SubnetInUse",
                )
            await repo.delete_subnet(subnet_id)
            uow.emit(
                _event(
                    "subnet",
                    "delete",
                    subnet.project_id,
                    subnet.id,
                    subnet_view(subnet),
                    network_id=subnet.network_id,
                )
            )
            await uow.commit()

    # ports ------------------------------------------------------------------------------
    async def create_port(self, project_id: str, attrs: dict[str, Any]) -> Port:
        now = utcnow()
        port = Port(
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
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            net = await repo.get_network(port.network_id)
            if net is None:
                raise NotFound(
                    f"Network {port.network_id} could not be found.", kind="NetworkNotFound"
                )
            await self._bind(uow, port)
            await self._insert_with_mac(repo, port, attrs.get("mac_address"))
            port.tunnel_key = await repo.assign_key("port", port.id, rules.PORT_KEY_MAX)
            port.fixed_ips = await self._allocate_ips(repo, port, net, attrs.get("fixed_ips"))
            uow.emit(
                _event("port", "create", project_id, port.id, port_view(port), **port_traits(port))
            )
            await uow.commit()
        return port

    async def _insert_with_mac(
        self, repo: NetworkRepository, port: Port, requested: str | None
    ) -> None:
        if requested:
            port.mac_address = rules.validate_mac(requested)
            if not await repo.add_port(port):
                raise Conflict(
                    f"Unable to complete operation for network {port.network_id}. "
                    f"The mac address {requested} is in use.",
                    kind="MacAddressInUse",
                )
            return
        for _ in range(16):
            port.mac_address = rules.generate_mac(self.config.base_mac)
            if await repo.add_port(port):
                return
        raise Conflict(
            "Unable to generate a unique MAC address", kind="MacAddressGenerationFailure"
        )

    async def _allocate_ips(
        self,
        repo: NetworkRepository,
        port: Port,
        net: Network,
        requested: list[dict[str, Any]] | None,
    ) -> list[FixedIP]:
        subnets = {s.id: s for s in await repo.list_subnets({"network_id": [net.id]})}
        if requested is None:
            wanted: list[dict[str, Any]] = [
                {"subnet_id": sid} for sid, s in subnets.items() if s.ip_version == 4
            ][:1]
        else:
            wanted = requested
        result: list[FixedIP] = []
        for item in wanted:
            subnet = self._subnet_for(item, subnets, net)
            if item.get("ip_address"):
                ip = rules.validate_ip(item["ip_address"])
                if not subnet.contains(ip):
                    raise InvalidInput(
                        f"IP address {ip} is not a valid IP for the specified subnet.",
                        kind="InvalidIpForSubnet",
                    )
                if not await repo.claim_ip(subnet.id, ip, port.id, net.id):
                    raise Conflict(
                        f"Unable to complete operation for network {net.id}. The IP "
                        f"address {ip} is in use.",
                        kind="IpAddressInUse",
                    )
                result.append(FixedIP(subnet.id, ip))
                continue
            for _ in range(10):
                used = await repo.used_ips(subnet.id)
                ip_or_none = next(subnet.free_addresses(used), None)
                if ip_or_none is None:
                    raise Conflict(
                        f"No more IP addresses available for subnet {subnet.id}.",
                        kind="IpAddressGenerationFailure",
                    )
                if await repo.claim_ip(subnet.id, ip_or_none, port.id, net.id):
                    result.append(FixedIP(subnet.id, ip_or_none))
                    break
            else:
                raise Conflict(
                    "IP allocation raced too often; retry.", kind="IpAddressGenerationFailure"
                )
        return result

    @staticmethod
    def _subnet_for(item: dict[str, Any], subnets: dict[str, Subnet], net: Network) -> Subnet:
        if item.get("subnet_id"):
            subnet = subnets.get(item["subnet_id"])
            if subnet is None:
                raise InvalidInput(
                    f"Invalid input for operation: Failed to create port on "
                    f"network {net.id}, because fixed_ips included invalid "
                    f"subnet {item['subnet_id']}."
                )
            return subnet
        if item.get("ip_address"):
            for subnet in subnets.values():
                if subnet.contains(item["ip_address"]):
                    return subnet
            raise InvalidInput(
                f"IP address {item['ip_address']} is not in any subnet of network {net.id}",
                kind="InvalidIpForNetwork",
            )
        raise InvalidInput("fixed_ips entries need a subnet_id or an ip_address")

    async def _bind(self, uow: UnitOfWork, port: Port) -> None:
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

    async def get_port(self, port_id: str) -> Port:
        async with self.store.uow(readonly=True) as uow:
            port = await NetworkRepository(uow).get_port(port_id)
        if port is None:
            raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
        return port

    async def list_ports(
        self,
        filters: Filters,
        *,
        visible_to: str | None,
        limit: int | None = None,
        marker: str | None = None,
        fixed_ip_filters: list[dict[str, str]] | None = None,
    ) -> list[Port]:
        async with self.store.uow(readonly=True) as uow:
            return await NetworkRepository(uow).list_ports(
                filters,
                visible_to=visible_to,
                limit=limit,
                marker=marker,
                fixed_ip_filters=fixed_ip_filters,
            )

    async def update_port(self, port_id: str, changes: dict[str, Any]) -> Port:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            port = await repo.get_port(port_id)
            if port is None:
                raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
            before = replace(port)
            simple = {
                "name": "name",
                "description": "description",
                "admin_state_up": "admin_state_up",
                "device_id": "device_id",
                "device_owner": "device_owner",
                "status": "status",
                "data_plane_status": "data_plane_status",
                "binding:vnic_type": "binding_vnic_type",
            }
            for key, attr in simple.items():
                if key in changes:
                    setattr(port, attr, changes[key])
            if "binding:profile" in changes:
                port.binding_profile = dict(changes["binding:profile"] or {})
            if (
                "binding:host_id" in changes
                and changes["binding:host_id"] != before.binding_host_id
            ):
                port.binding_host_id = changes["binding:host_id"] or ""
                await self._bind(uow, port)
            if "mac_address" in changes and changes["mac_address"] != port.mac_address:
                raise InvalidInput("mac_address cannot be changed on a port")
            if "fixed_ips" in changes:
                net = await repo.get_network(port.network_id)
                assert net is not None
                await repo.release_ips(port.id)
                port.fixed_ips = await self._allocate_ips(repo, port, net, changes["fixed_ips"])
            port.revision_number += 1
            port.updated_at = utcnow()
            await repo.update_port(port)
            traits = port_traits(port)
            traits["old_status"] = before.status
            traits["old_data_plane_status"] = before.data_plane_status
            uow.emit(_event("port", "update", port.project_id, port.id, port_view(port), **traits))
            await uow.commit()
        return port

    async def delete_port(self, port_id: str) -> None:
        async with self.store.uow() as uow:
            repo = NetworkRepository(uow)
            port = await repo.get_port(port_id)
            if port is None:
                raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
            await repo.delete_port(port_id)
            uow.emit(
                _event(
                    "port", "delete", port.project_id, port.id, port_view(port), **port_traits(port)
                )
            )
            await uow.commit()
