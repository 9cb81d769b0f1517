"""Neutron's attribute maps for the core resources: what may be set, when, how it parses,
and what a list may filter on."""

from __future__ import annotations

from typing import Any

from stateward.api.body import (
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
from stateward.api.listing import to_bool, to_int
from stateward.api.networking.resource import Attribute
from stateward.domain.errors import InvalidInput
from stateward.domain.network import DATA_PLANE_STATUSES, NETWORK_TYPES, PORT_STATUSES, VNIC_TYPES

SEEN = Attribute(is_filter=str)  # read-only, filterable

COMMON: dict[str, Attribute] = {
    "id": SEEN,
    "revision_number": Attribute(is_filter=to_int),
    "created_at": Attribute(),
    "updated_at": Attribute(),
    "name": Attribute(is_string(255), allow_post=True, allow_put=True, is_filter=str),
    "description": Attribute(is_string(255), allow_post=True, allow_put=True, is_filter=str),
    "tenant_id": Attribute(is_project_id, allow_post=True, is_filter=str),
    "project_id": Attribute(is_project_id, allow_post=True, is_filter=str),
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


def route(name: str, value: Any) -> dict[str, str]:
    """A ``{destination, nexthop}`` pair (subnets' host_routes, routers' routes)."""
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


NETWORK: dict[str, Attribute] = {
    **COMMON,
    "admin_state_up": Attribute(is_bool, allow_post=True, allow_put=True, is_filter=to_bool),
    "shared": Attribute(
        is_bool, allow_post=True, allow_put=True, enforce_policy=True, is_filter=to_bool
    ),
    "router:external": Attribute(
        is_bool, allow_post=True, allow_put=True, enforce_policy=True, is_filter=to_bool
    ),
    "mtu": Attribute(is_int(68, 9216), allow_post=True, allow_put=True, is_filter=to_int),
    "provider:network_type": Attribute(
        one_of(*NETWORK_TYPES), allow_post=True, enforce_policy=True, is_filter=str
    ),
    "provider:physical_network": Attribute(
        is_nullable_string(64), allow_post=True, enforce_policy=True, is_filter=str
    ),
    "provider:segmentation_id": Attribute(
        is_int(1, 2**32 - 1, nullable=True), allow_post=True, enforce_policy=True, is_filter=to_int
    ),
    "port_security_enabled": Attribute(is_bool, allow_post=True, allow_put=True),
    "availability_zone_hints": Attribute(is_list_of(is_string(255)), allow_post=True),
    "status": SEEN,
    "subnets": Attribute(),
}

SUBNET: dict[str, Attribute] = {
    **COMMON,
    "network_id": Attribute(is_uuid, allow_post=True, required=True, is_filter=str),
    "cidr": Attribute(is_string(64), allow_post=True, required=True, is_filter=str),
    "ip_version": Attribute(one_of(4, 6), allow_post=True, is_filter=to_int),
    "gateway_ip": Attribute(is_nullable_string(64), allow_post=True, allow_put=True, is_filter=str),
    "enable_dhcp": Attribute(is_bool, allow_post=True, allow_put=True, is_filter=to_bool),
    "allocation_pools": Attribute(is_list_of(_pool), allow_post=True, allow_put=True),
    "dns_nameservers": Attribute(is_list_of(is_string(64)), allow_post=True, allow_put=True),
    "host_routes": Attribute(is_list_of(route), allow_post=True, allow_put=True),
    "ipv6_address_mode": Attribute(one_of(None, nullable=True), allow_post=True),
    "ipv6_ra_mode": Attribute(one_of(None, nullable=True), allow_post=True),
    "subnetpool_id": Attribute(one_of(None, nullable=True), allow_post=True),
    "use_default_subnetpool": Attribute(is_bool, allow_post=True),
}

PORT: dict[str, Attribute] = {
    **COMMON,
    "network_id": Attribute(is_uuid, allow_post=True, required=True, is_filter=str),
    "admin_state_up": Attribute(is_bool, allow_post=True, allow_put=True, is_filter=to_bool),
    "mac_address": Attribute(is_string(32), allow_post=True, enforce_policy=True, is_filter=str),
    "fixed_ips": Attribute(is_list_of(_fixed_ip), allow_post=True, allow_put=True),
    "device_id": Attribute(is_string(255), allow_post=True, allow_put=True, is_filter=str),
    "device_owner": Attribute(is_string(255), allow_post=True, allow_put=True, is_filter=str),
    "status": Attribute(one_of(*PORT_STATUSES), allow_put=True, enforce_policy=True, is_filter=str),
    "data_plane_status": Attribute(
        one_of(*DATA_PLANE_STATUSES, nullable=True),
        allow_put=True,
        enforce_policy=True,
        is_filter=str,
    ),
    "binding:host_id": Attribute(
        is_string(255), allow_post=True, allow_put=True, enforce_policy=True, is_filter=str
    ),
    "binding:profile": Attribute(is_dict, allow_post=True, allow_put=True, enforce_policy=True),
    "binding:vnic_type": Attribute(
        one_of(*VNIC_TYPES), allow_post=True, allow_put=True, is_filter=str
    ),
    "binding:vif_type": SEEN,
    "security_groups": Attribute(_unsupported_list, allow_post=True, allow_put=True),
    "port_security_enabled": Attribute(is_bool, allow_post=True, allow_put=True),
    "allowed_address_pairs": Attribute(_unsupported_list, allow_post=True, allow_put=True),
}
