"""Nova's server representation, shaped for the microversion the client asked for."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request

from stateward.api.compute.common import links, nova_ts, usec_ts
from stateward.api.compute.versions import Microversion
from stateward.api.deps import target
from stateward.domain.compute import Server
from stateward.domain.errors import NotFound
from stateward.domain.identity import AuthContext
from stateward.runtime import Runtime

Addresses = dict[str, list[dict[str, Any]]]


def host_id(server: Server) -> str:
    """Nova's opaque per-project host id ('' while the server has no host)."""
    if not server.host:
        return ""
    return hashlib.sha224((server.project_id + server.host).encode()).hexdigest()


def _flavor(request: Request, server: Server, mv: Microversion, specs: bool) -> dict[str, Any]:
    snap = server.flavor or {}
    if not mv.at_least("2.47"):
        flavor_id = str(snap.get("id") or server.flavor_ref)
        return {"id": flavor_id, "links": links(request, "flavors", flavor_id)}
    flavor: dict[str, Any] = {
        "vcpus": snap.get("vcpus", server.vcpus),
        "ram": snap.get("ram", server.memory_mb),
        "disk": snap.get("disk", server.root_gb),
        "ephemeral": snap.get("ephemeral", 0),
        "swap": snap.get("swap", 0),
        "original_name": snap.get("name", server.flavor_ref),
    }
    if specs:
        flavor["extra_specs"] = dict(snap.get("extra_specs") or {})
    return flavor


def server_view(
    request: Request,
    server: Server,
    mv: Microversion,
    *,
    admin_attrs: bool,
    host_status: str | None,
    addresses: Addresses | None = None,
    flavor_specs: bool = False,
) -> dict[str, Any]:
    image: Any = (
        {"id": server.image_ref, "links": links(request, "images", server.image_ref)}
        if server.image_ref
        else ""
    )
    d: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "metadata": dict(server.metadata),
        "hostId": host_id(server),
        "image": image,
        "flavor": _flavor(request, server, mv, flavor_specs),
        "created": nova_ts(server.created_at),
        "updated": nova_ts(server.updated_at),
        "addresses": addresses or {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(request, "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": server.availability_zone,
        "config_drive": "",
        "key_name": None,
        "OS-SRV-USG:launched_at": usec_ts(server.launched_at),
        "OS-SRV-USG:terminated_at": usec_ts(server.deleted_at),
        "OS-EXT-STS:task_state": server.task_state,
        "OS-EXT-STS:vm_state": server.vm_state,
        "OS-EXT-STS:power_state": server.power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    }
    if server.fault and server.status in ("ERROR", "DELETED"):
        fault: dict[str, Any] = {
            k: server.fault[k] for k in ("code", "message", "created") if k in server.fault
        }
        if admin_attrs and "details" in server.fault:
            fault["details"] = server.fault["details"]
        d["fault"] = fault
    if admin_attrs:
        d["OS-EXT-SRV-ATTR:host"] = server.host or None
        d["OS-EXT-SRV-ATTR:hypervisor_hostname"] = server.host or None
        d["OS-EXT-SRV-ATTR:instance_name"] = "instance-" + server.id[:8]
        if mv.at_least("2.3"):
            d.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": "r-" + server.id[:8],
                    "OS-EXT-SRV-ATTR:launch_index": 0,
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:hostname": server.name,
                    "OS-EXT-SRV-ATTR:root_device_name": None,
                    "OS-EXT-SRV-ATTR:user_data": None,
                }
            )
    if mv.at_least("2.9"):
        d["locked"] = False
    if mv.at_least("2.16") and host_status is not None:
        d["host_status"] = host_status
    if mv.at_least("2.19"):
        d["description"] = server.description
    if mv.at_least("2.26"):
        d["tags"] = []
    if mv.at_least("2.63"):
        d["trusted_image_certificates"] = None
    if mv.at_least("2.73"):
        d["locked_reason"] = None
    return d


async def server_views(
    request: Request,
    runtime: Runtime,
    ctx: AuthContext,
    servers: list[Server],
    mv: Microversion,
    project_id: str | None,
) -> list[dict[str, Any]]:
    tgt = target(project_id)
    admin_attrs = runtime.policy.allowed("os_compute_api:os-extended-server-attributes", ctx, tgt)
    show_status = mv.at_least("2.16") and runtime.policy.allowed(
        "os_compute_api:servers:show:host_status", ctx, tgt
    )
    specs = mv.at_least("2.47") and runtime.policy.allowed(
        "os_compute_api:os-flavor-extra-specs:index", ctx, tgt
    )
    hosts = [s.host for s in servers if s.host]
    statuses = await runtime.compute.host_status(hosts) if show_status else {}
    addresses = await runtime.compute.addresses([s.id for s in servers])
    return [
        server_view(
            request,
            s,
            mv,
            admin_attrs=admin_attrs,
            host_status=statuses.get(s.host, "UNKNOWN" if s.host else "") if show_status else None,
            addresses=addresses.get(s.id),
            flavor_specs=specs,
        )
        for s in servers
    ]


async def visible_server(runtime: Runtime, ctx: AuthContext, server_id: str) -> Server:
    server = await runtime.compute.get_server(server_id)
    if not ctx.is_admin and server.project_id != ctx.project_id:
        raise NotFound(f"Instance {server_id} could not be found.")
    return server
