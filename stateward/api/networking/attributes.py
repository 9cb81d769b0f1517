"""Neutron's attribute maps for the core resources: what may be set, when, and how it parses."""

from __future__ import annotations

from typing import Any

from stateward.api.body import (
    Attr,
    anything,
    is_bool,
    is_dict,
    is_int,
    is_list_of,
    is_nullable_string,
    is_project_id,
    is_string,
    is_uuid,
    one_of,
)
from stateward.domain.errors import InvalidInput
from stateward.domain.network import DATA_PLANE_STATUSES, NETWORK_TYPES, PORT_STATUSES, VNIC_TYPES

READ_ONLY = Attr(anything)

COMMON: dict[str, Attr] = {
    "id": READ_ONLY,
    "revision_number": READ_ONLY,
    "created_at": READ_ONLY,
    "updated_at": READ_ONLY,
    "name": Attr(is_string(255), post=True, put=True),
    "description": Attr(is_string(255), post=True, put=True),
    "tenant_id": Attr(is_project_id, post=True),
    "project_id": Attr(is_project_id, post=True),
}


def _fixed_ip(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not set(value) <= {"subnet_id", "ip_address"}:
        raise InvalidInput(
            f"Invalid input for {name}. Reason: each entry needs subnet_id and/or ip_address."
        )
    result: dict[str, Any] = {}
    if "subnet_id" in value:
        result["subnet_id"] = is_uuid(f"{name}.subnet_id", value["subnet_id"])
    if "ip_address" in value:
        result["ip_address"] = is_string(64)(f"{name}.ip_address", value["ip_address"])
    return result


def _pool(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise InvalidInput(f"Invalid input for {name}. Reason: each pool needs start and end.")
    return {"start": is_string(64)(name, value["start"]), "end": is_string(64)(name, value["end"])}


def _route(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"destination", "nexthop"}:
        raise InvalidInput(
            f"Invalid input for {name}. Reason: routes need destination and nexthop."
        )
    return {k: is_string(64)(name, v) for k, v in value.items()}


def _unsupported_list(name: str, value: Any) -> list[Any]:
    """Accepted empty (clients echo it back); Stateward does not implement the extension."""
    if value in (None, []):
        return []
    raise InvalidInput(
        f"Invalid input for {name}. Reason: this extension is not supported by "
        f"this server; only an empty list is accepted."
    )


NETWORK: dict[str, Attr] = {
    **COMMON,
    "admin_state_up": Attr(is_bool, post=True, put=True),
    "shared": Attr(is_bool, post=True, put=True, policy="shared"),
    "router:external": Attr(is_bool, post=True, put=True, policy="router:external"),
    "mtu": Attr(is_int(68, 9216), post=True, put=True),
    "provider:network_type": Attr(
        one_of(*NETWORK_TYPES), post=True, policy="provider:network_type"
    ),
    "provider:physical_network": Attr(
        is_nullable_string(64), post=True, policy="provider:physical_network"
    ),
    "provider:segmentation_id": Attr(
        is_int(1, 2**32 - 1, nullable=True), post=True, policy="provider:segmentation_id"
    ),
    "port_security_enabled": Attr(is_bool, post=True, put=True),
    "availability_zone_hints": Attr(is_list_of(is_string(255)), post=True),
    "status": READ_ONLY,
    "subnets": READ_ONLY,
}

SUBNET: dict[str, Attr] = {
    **COMMON,
    "network_id": Attr(is_uuid, post=True, required=True),
    "cidr": Attr(is_string(64), post=True, required=True),
    "ip_version": Attr(one_of(4, 6), post=True),
    "gateway_ip": Attr(is_nullable_string(64), post=True, put=True),
    "enable_dhcp": Attr(is_bool, post=True, put=True),
    "allocation_pools": Attr(is_list_of(_pool), post=True, put=True),
    "dns_nameservers": Attr(is_list_of(is_string(64)), post=True, put=True),
    "host_routes": Attr(is_list_of(_route), post=True, put=True),
    "ipv6_address_mode": Attr(one_of(None, nullable=True), post=True),
    "ipv6_ra_mode": Attr(one_of(None, nullable=True), post=True),
    "subnetpool_id": Attr(one_of(None, nullable=True), post=True),
    "use_default_subnetpool": Attr(is_bool, post=True),
}

PORT: dict[str, Attr] = {
    **COMMON,
    "network_id": Attr(is_uuid, post=True, required=True),
    "admin_state_up": Attr(is_bool, post=True, put=True),
    "mac_address": Attr(is_string(32), post=True, policy="mac_address"),
    "fixed_ips": Attr(is_list_of(_fixed_ip), post=True, put=True),
    "device_id": Attr(is_string(255), post=True, put=True),
    "device_owner": Attr(is_string(255), post=True, put=True),
    "status": Attr(one_of(*PORT_STATUSES), put=True, policy="status"),
    "data_plane_status": Attr(
        one_of(*DATA_PLANE_STATUSES, nullable=True), put=True, policy="data_plane_status"
    ),
    "binding:host_id": Attr(is_string(255), post=True, put=True, policy="binding:host_id"),
    "binding:profile": Attr(is_dict, post=True, put=True, policy="binding:profile"),
    "binding:vnic_type": Attr(one_of(*VNIC_TYPES), post=True, put=True),
    "security_groups": Attr(_unsupported_list, post=True, put=True),
    "port_security_enabled": Attr(is_bool, post=True, put=True),
    "allowed_address_pairs": Attr(_unsupported_list, post=True, put=True),
}
