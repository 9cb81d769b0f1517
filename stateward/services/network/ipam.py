"""IP address and MAC allocation for ports: the store's unique keys decide every race."""

from __future__ import annotations

from typing import Any

from stateward.domain import network as rules
from stateward.domain.errors import Conflict, InvalidInput
from stateward.domain.network import FixedIP, Network, Port, Subnet
from stateward.store.repositories.network import NetworkRepository


async def insert_with_mac(
    repo: NetworkRepository, port: Port, requested: str | None, base_mac: str
) -> None:
    """Insert ``port`` with the requested MAC (409 when taken) or a free generated one."""
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
        port.mac_address = rules.generate_mac(base_mac)
        if await repo.add_port(port):
            return
    raise Conflict("Unable to generate a unique MAC address", kind="MacAddressGenerationFailure")


async def allocate_ips(
    repo: NetworkRepository,
    port: Port,
    net: Network,
    requested: list[dict[str, Any]] | None,
) -> list[FixedIP]:
    """Claim the requested addresses, or the lowest free one of the first IPv4 subnet."""
    subnets = {s.id: s for s in await repo.list_subnets({"network_id": [net.id]})}
    if requested is None:
        wanted: list[dict[str, Any]] = [
            {"subnet_id": sid} for sid, s in subnets.items() if s.ip_version == 4
        ][:1]
    else:
        wanted = requested
    result: list[FixedIP] = []
    for item in wanted:
        subnet = subnet_for(item, subnets, net)
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
        result.append(await _claim_free(repo, subnet, port, net))
    return result


async def _claim_free(repo: NetworkRepository, subnet: Subnet, port: Port, net: Network) -> FixedIP:
    for _ in range(10):
        used = await repo.used_ips(subnet.id)
        ip = next(subnet.free_addresses(used), None)
        if ip is None:
            raise Conflict(
                f"No more IP addresses available for subnet {subnet.id}.",
                kind="IpAddressGenerationFailure",
            )
        if await repo.claim_ip(subnet.id, ip, port.id, net.id):
            return FixedIP(subnet.id, ip)
    raise Conflict("IP allocation raced too often; retry.", kind="IpAddressGenerationFailure")


def subnet_for(item: dict[str, Any], subnets: dict[str, Subnet], net: Network) -> Subnet:
    """The subnet a ``fixed_ips`` entry names, directly or through its address."""
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
