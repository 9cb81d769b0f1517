"""Neutron v2.0's representation of each resource: the API body and the notification payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stateward.domain.network import Network, Port, Subnet


def neutron_time(value: datetime | None) -> str | None:
    """Neutron's timestamp format (``2024-01-01T00:00:00Z``)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def network_view(n: Network) -> dict[str, Any]:
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
        "created_at": neutron_time(n.created_at),
        "updated_at": neutron_time(n.updated_at),
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
        "created_at": neutron_time(s.created_at),
        "updated_at": neutron_time(s.updated_at),
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
        "created_at": neutron_time(p.created_at),
        "updated_at": neutron_time(p.updated_at),
    }
