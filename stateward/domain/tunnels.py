"""What a chassis' local controller knows about networks, ports and chassis (the ``tunnels``
view of the agent feed), and the rules for ports in another cloud (Dragonflow's virtual tunnel
port spec: ``binding:profile {"port_key": "remote_port", "host_ip": ...}``).

The *forms* here are the exact objects agents receive. They are built the same way from a
notification's payload and from the store, so comparing two forms says whether an agent would
see any difference.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from stateward.domain.errors import InvalidInput
from stateward.domain.network import TUNNEL_TYPES

REMOTE_PORT = "remote_port"


def remote_ip(profile: dict[str, Any] | None) -> str | None:
    """The tunnel endpoint of a port living in another cloud, or None for an ordinary port."""
    if not profile or profile.get("port_key") != REMOTE_PORT:
        return None
    value = profile.get("host_ip")
    return str(value) if value else None


def port_form(
    *,
    port_id: str,
    network_id: str,
    mac_address: str,
    tunnel_key: int | None,
    host: str,
    profile: dict[str, Any] | None,
    ips: Iterable[str],
    admin_state_up: bool,
) -> dict[str, Any] | None:
    """A port as agents see it, or None when it has no location (unbound, or no key yet)."""
    far = remote_ip(profile)
    if tunnel_key is None or not (host or far):
        return None
    return {
        "id": port_id,
        "network_id": network_id,
        "mac": mac_address,
        "tunnel_key": int(tunnel_key),
        "chassis": None if far else host,
        "remote_ip": far,
        "ips": sorted(ips),
        "admin_state_up": bool(admin_state_up),
    }


def port_form_from_view(view: dict[str, Any], tunnel_key: int | None) -> dict[str, Any] | None:
    """The form of a port from its Neutron representation (a notification's payload)."""
    return port_form(
        port_id=str(view["id"]),
        network_id=str(view["network_id"]),
        mac_address=str(view.get("mac_address") or ""),
        tunnel_key=tunnel_key,
        host=str(view.get("binding:host_id") or ""),
        profile=view.get("binding:profile") or {},
        ips=[str(f["ip_address"]) for f in view.get("fixed_ips") or []],
        admin_state_up=bool(view.get("admin_state_up", True)),
    )


def network_form(
    *,
    network_id: str,
    local_key: int | None,
    network_type: str,
    segmentation_id: int | None,
    mtu: int,
) -> dict[str, Any]:
    return {
        "id": network_id,
        "local_key": local_key,
        "network_type": network_type,
        "segmentation_id": segmentation_id,
        "mtu": int(mtu),
    }


def network_form_from_view(view: dict[str, Any], local_key: int | None) -> dict[str, Any]:
    return network_form(
        network_id=str(view["id"]),
        local_key=local_key,
        network_type=str(view.get("provider:network_type") or ""),
        segmentation_id=view.get("provider:segmentation_id"),
        mtu=int(view.get("mtu") or 0),
    )


def chassis_form(name: str, ip: str, tunnel_types: Iterable[str]) -> dict[str, Any]:
    return {"name": name, "ip": ip, "tunnel_types": list(tunnel_types)}


def validate_remote_profile(
    profile: dict[str, Any],
    *,
    network_type: str,
    host_id: str,
    supported_types: set[str] | None,
) -> None:
    """A port in another cloud: a valid ``host_ip``, on a tunnel network whose type this
    cloud's chassis can speak (``supported_types``: the union of registered chassis' tunnel
    types, None when no chassis is registered yet), and no local host. Each refusal names the
    field."""
    if profile.get("port_key") != REMOTE_PORT:
        if "host_ip" in profile:
            raise InvalidInput(
                "Invalid input for binding:profile.port_key. Reason: host_ip is only "
                f"meaningful with port_key '{REMOTE_PORT}'."
            )
        return
    raw = profile.get("host_ip")
    try:
        address = ipaddress.ip_address(str(raw))
    except ValueError:
        raise InvalidInput(
            f"Invalid input for binding:profile.host_ip. Reason: '{raw}' is not a valid IP address."
        )
    if address.version != 4 or address.is_multicast or address.is_unspecified:
        raise InvalidInput(
            f"Invalid input for binding:profile.host_ip. Reason: '{raw}' is not a unicast IPv4 "
            "tunnel endpoint."
        )
    if network_type not in TUNNEL_TYPES:
        raise InvalidInput(
            "Invalid input for binding:profile.port_key. Reason: a remote port needs a tunnel "
            f"network (vxlan, geneve or gre), not {network_type}."
        )
    declared = profile.get("tunnel_type")
    if declared is not None and declared != network_type:
        raise InvalidInput(
            f"Invalid input for binding:profile.tunnel_type. Reason: '{declared}' is not the "
            f"network's type ({network_type})."
        )
    if supported_types is not None and network_type not in supported_types:
        raise InvalidInput(
            f"Invalid input for binding:profile.tunnel_type. Reason: no chassis of this cloud "
            f"has a {network_type} tunnel (they have: {', '.join(sorted(supported_types))})."
        )
    if host_id:
        raise InvalidInput(
            "Invalid input for binding:host_id. Reason: a remote port (binding:profile "
            f"port_key '{REMOTE_PORT}') lives in another cloud and has no local host."
        )
