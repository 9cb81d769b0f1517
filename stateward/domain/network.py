"""Neutron's core resources and their rules: segments, addressing, MACs, port binding."""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stateward.domain.errors import Conflict, InvalidInput

NETWORK_TYPES = ("vxlan", "geneve", "gre", "vlan", "flat")
TUNNEL_TYPES = ("vxlan", "geneve", "gre")
PORT_STATUSES = ("ACTIVE", "DOWN", "BUILD", "ERROR")
DATA_PLANE_STATUSES = ("ACTIVE", "DOWN")
VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder")
VIF_UNBOUND = "unbound"
VIF_BINDING_FAILED = "binding_failed"
VIF_OVS = "ovs"
MTU_BY_TYPE = {"vxlan": 1450, "geneve": 1442, "gre": 1458, "vlan": 1500, "flat": 1500}
SEGMENT_MAX = {"vxlan": 2**24 - 1, "geneve": 2**24 - 1, "gre": 2**32 - 1, "vlan": 4094}


@dataclass(slots=True)
class Network:
    id: str
    project_id: str
    name: str
    network_type: str
    segmentation_id: int | None
    physical_network: str | None = None
    description: str = ""
    admin_state_up: bool = True
    status: str = "ACTIVE"
    shared: bool = False
    external: bool = False
    mtu: int = 1450
    revision_number: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    subnet_ids: list[str] = field(default_factory=list)
    # The network's key in every chassis' OpenFlow pipeline (metadata), allocated once.
    local_key: int | None = None


@dataclass(slots=True)
class AllocationPool:
    start: str
    end: str


@dataclass(slots=True)
class Subnet:
    id: str
    project_id: str
    network_id: str
    name: str
    ip_version: int
    cidr: str
    gateway_ip: str | None
    allocation_pools: list[AllocationPool]
    enable_dhcp: bool = True
    dns_nameservers: list[str] = field(default_factory=list)
    host_routes: list[dict[str, str]] = field(default_factory=list)
    description: str = ""
    revision_number: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def free_addresses(self, used: set[str]) -> Iterator[str]:
        """Addresses in the pools, lowest first, that are not used and not the gateway."""
        for pool in self.allocation_pools:
            start = int(ipaddress.ip_address(pool.start))
            end = int(ipaddress.ip_address(pool.end))
            for value in range(start, end + 1):
                ip = str(ipaddress.ip_address(value))
                if ip not in used and ip != self.gateway_ip:
                    yield ip

    def contains(self, ip: str) -> bool:
        address, net = ipaddress.ip_address(ip), ipaddress.ip_network(self.cidr)
        return address.version == net.version and address in net

    def in_pools(self, ip: str) -> bool:
        value = int(ipaddress.ip_address(ip))
        return any(
            int(ipaddress.ip_address(p.start)) <= value <= int(ipaddress.ip_address(p.end))
            for p in self.allocation_pools
        )


@dataclass(slots=True)
class FixedIP:
    subnet_id: str
    ip_address: str


@dataclass(slots=True)
class Port:
    id: str
    project_id: str
    network_id: str
    mac_address: str
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    status: str = "DOWN"
    device_id: str = ""
    device_owner: str = ""
    binding_host_id: str = ""
    binding_profile: dict[str, Any] = field(default_factory=dict)
    binding_vnic_type: str = "normal"
    binding_vif_type: str = VIF_UNBOUND
    binding_vif_details: dict[str, Any] = field(default_factory=dict)
    data_plane_status: str | None = None
    fixed_ips: list[FixedIP] = field(default_factory=list)
    revision_number: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The port's key in every chassis' OpenFlow pipeline (reg6 source, reg7 destination).
    tunnel_key: int | None = None


# Keys a chassis' pipeline knows networks and ports by (Dragonflow's "unique key").
PORT_KEY_MAX = 2**31 - 1
NETWORK_KEY_MAX = 2**24 - 1


# Segments ---------------------------------------------------------------------------------


def parse_ranges(specs: Iterable[str], network_type: str) -> list[tuple[str, int, int]]:
    """Parse ``"1:1000"`` (tunnels) or ``"physnet1:100:200"`` (vlan) into (physnet, lo, hi)."""
    result = []
    for spec in specs:
        parts = spec.split(":")
        if network_type == "vlan":
            if len(parts) != 3:
                raise ValueError(f"vlan range {spec!r} must be physnet:min:max")
            physnet, lo, hi = parts[0], int(parts[1]), int(parts[2])
        else:
            if len(parts) != 2:
                raise ValueError(f"{network_type} range {spec!r} must be min:max")
            physnet, lo, hi = "", int(parts[0]), int(parts[1])
        if not 1 <= lo <= hi <= SEGMENT_MAX[network_type]:
            raise ValueError(f"{network_type} range {spec!r} out of bounds")
        result.append((physnet, lo, hi))
    return result


def pick_segment(
    ranges: list[tuple[str, int, int]], used: set[tuple[str, int]], physical_network: str | None
) -> tuple[str, int]:
    """The lowest free (physnet, id) in the configured ranges."""
    for physnet, lo, hi in ranges:
        if physical_network is not None and physnet != physical_network:
            continue
        for value in range(lo, hi + 1):
            if (physnet, value) not in used:
                return physnet, value
    raise Conflict("Unable to create the network. No tenant network is available for allocation.")


def validate_segment(
    network_type: str, segmentation_id: int | None, physical_network: str | None
) -> None:
    if network_type not in NETWORK_TYPES:
        raise InvalidInput(
            f"Invalid input for provider:network_type. Reason: '{network_type}' "
            f"is not in {list(NETWORK_TYPES)}."
        )
    if network_type == "flat":
        if segmentation_id is not None:
            raise InvalidInput("segmentation_id cannot be specified for a flat network")
        return
    if segmentation_id is not None and not 1 <= segmentation_id <= SEGMENT_MAX[network_type]:
        raise InvalidInput(
            f"provider:segmentation_id {segmentation_id} out of range for "
            f"{network_type} (1 to {SEGMENT_MAX[network_type]})"
        )
    if network_type in TUNNEL_TYPES and physical_network:
        raise InvalidInput(f"provider:physical_network is not allowed for {network_type}")


# Addressing -------------------------------------------------------------------------------


def normalise_cidr(cidr: str) -> tuple[str, int]:
    """Validate a CIDR, returning its canonical form and IP version."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise InvalidInput(f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet.")
    if str(net) != cidr and str(net.network_address) + f"/{net.prefixlen}" != cidr:
        raise InvalidInput(
            f"Invalid input for cidr. Reason: '{cidr}' isn't a recognized IP "
            f"subnet cidr, '{net}' is recommended."
        )
    if net.num_addresses < 4 and net.version == 4:
        raise InvalidInput(f"Invalid input for cidr. Reason: '{cidr}' is too small.")
    return str(net), net.version


def default_gateway(cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + 1)


def default_pools(cidr: str, gateway_ip: str | None) -> list[AllocationPool]:
    """Every usable address except the gateway, split around it as Neutron does."""
    net = ipaddress.ip_network(cidr)
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)

    def text(value: int) -> str:
        return str(
            ipaddress.ip_address(value) if net.version == 4 else ipaddress.IPv6Address(value)
        )

    gw = ipaddress.ip_address(gateway_ip) if gateway_ip else None
    if gw is not None and gw.version == net.version and first <= int(gw) <= last:
        pools = []
        if int(gw) > first:
            pools.append(AllocationPool(text(first), text(int(gw) - 1)))
        if int(gw) < last:
            pools.append(AllocationPool(text(int(gw) + 1), text(last)))
        return pools
    return [AllocationPool(text(first), text(last))]


def _address_in(value: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network, what: str) -> int:
    """The address as an integer, refusing one of another IP version or outside the subnet."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidInput(
            f"Invalid input for {what}. Reason: '{value}' is not a valid IP address."
        )
    if address.version != net.version or address not in net:
        raise InvalidInput(f"{what} {value} is not in the subnet {net}.")
    return int(address)


def validate_pools(cidr: str, gateway_ip: str | None, pools: list[AllocationPool]) -> None:
    net = ipaddress.ip_network(cidr)
    gateway: int | None = None
    if gateway_ip:
        address = ipaddress.ip_address(gateway_ip)
        gateway = int(address) if address.version == net.version else None
    spans = []
    for pool in pools:
        start = _address_in(pool.start, net, "allocation_pools start")
        end = _address_in(pool.end, net, "allocation_pools end")
        if start > end:
            raise InvalidInput(
                f"Invalid allocation pool {pool.start}-{pool.end}: start is after end."
            )
        if gateway is not None and start <= gateway <= end:
            raise InvalidInput(
                f"Gateway ip {gateway_ip} conflicts with allocation pool {pool.start}-{pool.end}"
            )
        spans.append((start, end))
    spans.sort()
    for (_, end_a), (start_b, _) in itertools.pairwise(spans):
        if start_b <= end_a:
            raise InvalidInput("Found overlapping allocation pools")


def validate_gateway(gateway_ip: str, cidr: str) -> str:
    """A gateway must be an address of the subnet's IP version (it may lie outside the CIDR)."""
    gateway = ipaddress.ip_address(validate_ip(gateway_ip, "gateway_ip"))
    net = ipaddress.ip_network(cidr)
    if gateway.version != net.version:
        raise InvalidInput(
            f"Invalid input for gateway_ip. Reason: {gateway_ip} is not an IPv"
            f"{net.version} address."
        )
    if gateway in (net.network_address, net.broadcast_address) and net.num_addresses > 2:
        raise InvalidInput(
            f"Gateway IP {gateway_ip} conflicts with the subnet's network or broadcast address."
        )
    return str(gateway)


def validate_ip(value: str, what: str = "ip_address") -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInput(
            f"Invalid input for {what}. Reason: '{value}' is not a valid IP address."
        )


def cidrs_overlap(a: str, b: str) -> bool:
    net_a, net_b = ipaddress.ip_network(a), ipaddress.ip_network(b)
    if net_a.version != net_b.version:
        return False
    return int(net_a.network_address) <= int(net_b.broadcast_address) and int(
        net_b.network_address
    ) <= int(net_a.broadcast_address)


# MAC addresses ----------------------------------------------------------------------------


def generate_mac(base_mac: str, rng: random.Random | None = None) -> str:
    """Keep the base's first three octets (OUI), randomise the rest (Neutron's rule)."""
    rng = rng or random.SystemRandom()
    octets = base_mac.split(":")[:3]
    octets += [f"{rng.randint(0, 255):02x}" for _ in range(3)]
    return ":".join(octets)


def validate_mac(mac: str) -> str:
    parts = mac.lower().replace("-", ":").split(":")
    if len(parts) != 6 or not all(
        len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts
    ):
        raise InvalidInput(
            f"Invalid input for mac_address. Reason: '{mac}' is not a valid MAC address."
        )
    if int(parts[0], 16) & 1:
        raise InvalidInput(
            f"Invalid input for mac_address. Reason: '{mac}' is a multicast address."
        )
    return ":".join(parts)
