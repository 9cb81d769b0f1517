"""Nova v2.1 resources: os-services (mark host down) and servers, shaped per microversion.

Stateward does not boot servers: orchestrators register them on a host (2.74's admin ``host``
or ``availability_zone: "nova:HOST"``) and Stateward keeps their state true. ``imageRef`` and
``flavorRef`` are stored, not validated (there is no image service).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from stateward.api.body import json_body
from stateward.api.compute import Microversion, requested_microversion
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.api.urls import base_url
from stateward.domain import compute as rules
from stateward.domain.compute import ComputeServiceView, Server
from stateward.domain.errors import Forbidden, InvalidInput, NotFound
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:os-services:list", "rule:admin", "List compute services."),
        rule(
            "os_compute_api:os-services:update",
            "rule:admin",
            "Enable, disable, force down a compute service (forcing down moves its servers).",
        ),
        rule("os_compute_api:servers:index", "rule:admin_or_reader"),
        rule("os_compute_api:servers:detail", "rule:admin_or_reader"),
        rule("os_compute_api:servers:show", "rule:admin_or_reader"),
        rule("os_compute_api:servers:index:get_all_tenants", "rule:admin"),
        rule("os_compute_api:servers:detail:get_all_tenants", "rule:admin"),
        rule("os_compute_api:servers:show:host_status", "rule:admin"),
        rule("os_compute_api:os-extended-server-attributes", "rule:admin"),
        rule("os_compute_api:servers:create", "rule:admin_or_member or rule:service"),
        rule(
            "compute:servers:create:requested_destination",
            "rule:admin_or_service",
            "Register a server on a named host (2.74 host / hypervisor_hostname).",
        ),
        rule(
            "os_compute_api:servers:create:forced_host",
            "rule:admin_or_service",
            "Register a server on a host with availability_zone 'nova:HOST'.",
        ),
        rule("os_compute_api:servers:update", "rule:admin_or_member"),
        rule("os_compute_api:servers:delete", "rule:admin_or_member or rule:service"),
        rule("os_compute_api:os-admin-actions:reset_state", "rule:admin_or_service"),
        rule("os_compute_api:server-metadata:index", "rule:admin_or_reader"),
        rule("os_compute_api:server-metadata:show", "rule:admin_or_reader"),
        rule("os_compute_api:server-metadata:create", "rule:admin_or_member"),
        rule("os_compute_api:server-metadata:update", "rule:admin_or_member"),
        rule("os_compute_api:server-metadata:update_all", "rule:admin_or_member"),
        rule("os_compute_api:server-metadata:delete", "rule:admin_or_member"),
    ]
)


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, kind="BadRequest")


def _nova_ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _usec_ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


async def _body(request: Request) -> Any:
    return await json_body(request)


def _object(payload: Any, key: str) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get(key), dict):
        raise _bad(f"Invalid input for field/attribute {key}. '{key}' is a required object.")
    extra = sorted(set(payload) - {key, "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"})
    if extra:
        raise _bad(f"Additional properties are not allowed ('{extra[0]}' was unexpected)")
    body: dict[str, Any] = payload[key]
    return body


# os-services -------------------------------------------------------------------------------


def service_view(v: ComputeServiceView, mv: Microversion) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": v.id if mv.at_least("2.53") else rules.service_int_id(v.host),
        "binary": rules.COMPUTE_BINARY,
        "host": v.host,
        "zone": "nova",
        "status": v.status,
        "state": v.state,
        "updated_at": _usec_ts(v.updated_at),
        "disabled_reason": v.disabled_reason,
    }
    if mv.at_least("2.11"):
        d["forced_down"] = v.forced_down
    return d


@router.get("/os-services")
async def list_services(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-services:list", ctx, target(ctx.project_id))
    params = request.query_params
    views = await runtime.compute.list_services(params.get("host"), params.get("binary"))
    return {"services": [service_view(v, mv) for v in views]}


def _host_binary(body: dict[str, Any], extra: tuple[str, ...] = ()) -> tuple[str, str]:
    allowed = {"host", "binary", *extra}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    for key in ("host", "binary"):
        value = body.get(key)
        if not isinstance(value, str) or not value or len(value) > 255:
            raise _bad(f"Invalid input for field/attribute {key}. '{key}' is a required property")
    return body["host"], body["binary"]


LEGACY_ACTIONS = ("enable", "disable", "disable-log-reason", "force-down")


async def _legacy_service(runtime: Runtime, host: str, binary: str) -> ComputeServiceView:
    view = await runtime.compute.service(host) if binary == rules.COMPUTE_BINARY else None
    if view is None:
        raise NotFound(f"Service {binary} on host {host} could not be found.")
    return view


@router.put("/os-services/{service_id}")
async def update_service(
    service_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-services:update", ctx, target(ctx.project_id))
    body = await _body(request)
    if not isinstance(body, dict):
        raise _bad("Invalid input: the body must be an object.")
    if not mv.at_least("2.53"):
        return await _legacy_update(runtime, mv, service_id, body)
    if service_id in LEGACY_ACTIONS:
        raise NotFound(f"The {service_id} action is not available from microversion 2.53.")
    try:
        service_id = str(uuid.UUID(service_id))
    except ValueError:
        raise _bad(f"Invalid uuid {service_id}")
    unknown = sorted(set(body) - {"status", "disabled_reason", "forced_down"})
    if unknown:
        raise _bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    status = body.get("status")
    reason = body.get("disabled_reason")
    forced = body.get("forced_down")
    if "status" in body and status not in ("enabled", "disabled"):
        raise _bad(
            f"Invalid input for field/attribute status. Value: {status}. "
            f"'{status}' is not one of ['enabled', 'disabled']"
        )
    if "disabled_reason" in body and (not isinstance(reason, str) or not 1 <= len(reason) <= 255):
        raise _bad("Invalid input for field/attribute disabled_reason: a 1-255 character string")
    if "forced_down" in body and not isinstance(forced, bool):
        raise _bad(
            f"Invalid input for field/attribute forced_down. Value: {forced}. "
            f"{forced!r} is not of type 'boolean'"
        )
    if "status" not in body and "forced_down" not in body:
        raise _bad(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified."
        )
    if reason is not None and status != "disabled":
        raise _bad("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    view = await runtime.compute.service_by_id(service_id)
    updated, _ = await runtime.compute.update_service(
        view.host, status=status, disabled_reason=reason, forced_down=forced
    )
    return {"service": service_view(updated, mv)}


async def _legacy_update(
    runtime: Runtime, mv: Microversion, action: str, body: dict[str, Any]
) -> dict[str, Any]:
    if action == "force-down" and mv.at_least("2.11"):
        host, binary = _host_binary(body, ("forced_down",))
        forced = body.get("forced_down")
        if not isinstance(forced, bool):
            raise _bad("Invalid input for field/attribute forced_down. Value must be a boolean.")
        await _legacy_service(runtime, host, binary)
        await runtime.compute.update_service(host, forced_down=forced)
        return {"service": {"host": host, "binary": binary, "forced_down": forced}}
    if action in ("enable", "disable"):
        host, binary = _host_binary(body)
        await _legacy_service(runtime, host, binary)
        status = f"{action}d"
        await runtime.compute.update_service(host, status=status)
        return {"service": {"host": host, "binary": binary, "status": status}}
    if action == "disable-log-reason":
        host, binary = _host_binary(body, ("disabled_reason",))
        reason = body.get("disabled_reason")
        if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
            raise _bad("Missing disabled reason field")
        await _legacy_service(runtime, host, binary)
        await runtime.compute.update_service(host, status="disabled", disabled_reason=reason)
        return {
            "service": {
                "host": host,
                "binary": binary,
                "status": "disabled",
                "disabled_reason": reason,
            }
        }
    raise NotFound("Unknown action")


# servers -----------------------------------------------------------------------------------


def _host_id(server: Server) -> str:
    return hashlib.sha224((server.project_id + server.host).encode()).hexdigest()


def _links(request: Request, kind: str, ident: str) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/compute/{kind}/{ident}"},
    ]


def server_view(
    request: Request,
    server: Server,
    mv: Microversion,
    *,
    admin_attrs: bool,
    host_status: str | None,
) -> dict[str, Any]:
    image: Any = (
        {"id": server.image_ref, "links": _links(request, "images", server.image_ref)}
        if server.image_ref
        else ""
    )
    if mv.at_least("2.47"):
        flavor: dict[str, Any] = {
            "vcpus": 0,
            "ram": 0,
            "disk": 0,
            "ephemeral": 0,
            "swap": 0,
            "original_name": server.flavor_ref,
        }
        if admin_attrs:
            flavor["extra_specs"] = {}
    else:
        flavor = {"id": server.flavor_ref, "links": _links(request, "flavors", server.flavor_ref)}
    d: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "metadata": dict(server.metadata),
        "hostId": _host_id(server),
        "image": image,
        "flavor": flavor,
        "created": _nova_ts(server.created_at),
        "updated": _nova_ts(server.updated_at),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": _links(request, "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": server.availability_zone,
        "config_drive": "",
        "key_name": None,
        "OS-SRV-USG:launched_at": _usec_ts(server.launched_at),
        "OS-SRV-USG:terminated_at": _usec_ts(server.deleted_at),
        "OS-EXT-STS:task_state": server.task_state,
        "OS-EXT-STS:vm_state": server.vm_state,
        "OS-EXT-STS:power_state": server.power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
    }
    if admin_attrs:
        d["OS-EXT-SRV-ATTR:host"] = server.host
        d["OS-EXT-SRV-ATTR:hypervisor_hostname"] = server.host
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


async def _views(
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
    statuses = await runtime.compute.host_status([s.host for s in servers]) if show_status else {}
    return [
        server_view(
            request,
            s,
            mv,
            admin_attrs=admin_attrs,
            host_status=statuses.get(s.host, "UNKNOWN") if show_status else None,
        )
        for s in servers
    ]


async def _visible_server(runtime: Runtime, ctx: AuthContext, server_id: str) -> Server:
    server = await runtime.compute.get_server(server_id)
    if not ctx.is_admin and server.project_id != ctx.project_id:
        raise NotFound(f"Instance {server_id} could not be found.")
    return server


# Query parameters Nova's GET /servers accepts (2.75 refuses anything else).
LIST_PARAMS = {
    "all_tenants",
    "project_id",
    "tenant_id",
    "name",
    "status",
    "host",
    "node",
    "availability_zone",
    "image",
    "flavor",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "deleted",
    "changes-since",
    "changes-before",
    "ip",
    "ip6",
    "reservation_id",
    "user_id",
    "uuid",
    "locked",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "vm_state",
    "task_state",
    "power_state",
    "key_name",
    "config_drive",
    "access_ip_v4",
    "access_ip_v6",
    "auto_disk_config",
    "progress",
    "description",
    "display_name",
    "display_description",
    "created_at",
    "launched_at",
    "terminated_at",
    "hostname",
    "kernel_id",
    "ramdisk_id",
    "launch_index",
    "root_device_name",
    "locked_by",
    "image_ref",
    "instance_type_id",
}


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() not in ("0", "false", "off", "no", "f", "n")


async def _list(
    request: Request, runtime: Runtime, ctx: AuthContext, action: str
) -> tuple[list[Server], Microversion]:
    mv = requested_microversion(request)
    params = request.query_params
    if mv.at_least("2.75"):
        unknown = sorted(set(params) - LIST_PARAMS)
        if unknown:
            raise _bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    runtime.policy.enforce(f"os_compute_api:servers:{action}", ctx, target(ctx.project_id))
    project: str | None = ctx.project_id
    if "all_tenants" in params and (params["all_tenants"] == "" or _truthy(params["all_tenants"])):
        runtime.policy.enforce(
            f"os_compute_api:servers:{action}:get_all_tenants", ctx, target(ctx.project_id)
        )
        project = None
    requested_project = params.get("project_id") or params.get("tenant_id")
    if requested_project:
        if requested_project != ctx.project_id and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow listing another project's servers.")
        project = requested_project
    host = params.get("host") or params.get("node")
    if host is not None and not runtime.policy.allowed(
        "os_compute_api:os-extended-server-attributes", ctx, target(ctx.project_id)
    ):
        host = None  # Nova drops admin-only filters for other callers
    limit = None
    if "limit" in params:
        try:
            limit = int(params["limit"])
            if limit < 0:
                raise ValueError
        except ValueError:
            raise _bad("Invalid input for query parameters limit.")
    servers = await runtime.compute.list_servers(project_id=project, host=host)
    if params.get("name"):
        try:
            pattern = re.compile(params["name"])
        except re.error:
            raise _bad("Invalid input for query parameters name: not a valid regular expression.")
        servers = [s for s in servers if pattern.search(s.name)]
    if params.get("status"):
        wanted = {v.upper() for v in params.getlist("status")}
        servers = [s for s in servers if s.status in wanted]
    for key, attr in (
        ("vm_state", "vm_state"),
        ("availability_zone", "availability_zone"),
        ("image", "image_ref"),
        ("flavor", "flavor_ref"),
        ("user_id", "user_id"),
        ("uuid", "id"),
    ):
        if params.get(key):
            servers = [s for s in servers if getattr(s, attr) == params[key]]
    if params.get("marker"):
        ids = [s.id for s in servers]
        if params["marker"] not in ids:
            raise _bad(f"marker [{params['marker']}] not found")
        servers = servers[ids.index(params["marker"]) + 1 :]
    if limit:
        servers = servers[:limit]
    return servers, mv


def _next_links(request: Request, servers: list[Server], collection: str) -> dict[str, Any]:
    params = request.query_params
    if not params.get("limit") or len(servers) < int(params["limit"] or 0) or not servers:
        return {}
    query = [(k, v) for k, v in params.multi_items() if k != "marker"]
    query.append(("marker", servers[-1].id))
    qs = "&".join(f"{k}={v}" for k, v in query)
    return {
        f"{collection}_links": [
            {"rel": "next", "href": f"{base_url(request)}{request.url.path}?{qs}"}
        ]
    }


@router.get("/servers")
async def list_servers(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    servers, _ = await _list(request, runtime, ctx, "index")
    items = [
        {"id": s.id, "name": s.name, "links": _links(request, "servers", s.id)} for s in servers
    ]
    return {"servers": items, **_next_links(request, servers, "servers")}


@router.get("/servers/detail")
async def list_servers_detail(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    servers, mv = await _list(request, runtime, ctx, "detail")
    views = await _views(request, runtime, ctx, servers, mv, ctx.project_id)
    return {"servers": views, **_next_links(request, servers, "servers")}


CREATE_IGNORED = {
    "networks",
    "key_name",
    "security_groups",
    "user_data",
    "config_drive",
    "block_device_mapping",
    "block_device_mapping_v2",
    "adminPass",
    "OS-DCF:diskConfig",
    "accessIPv4",
    "accessIPv6",
    "personality",
    "return_reservation_id",
    "tags",
    "trusted_image_certificates",
    "hostname",
}


def _metadata(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _bad(f"Invalid input for field/attribute {name}. Value: {value}. is not an object")
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            raise _bad(f"Invalid input for field/attribute {name}: keys are 1-255 characters")
        if not isinstance(item, str) or len(item) > 255:
            raise _bad(
                f"Invalid input for field/attribute {name}.{key}: values are strings of "
                f"at most 255 characters"
            )
    return dict(value)


@router.post("/servers", status_code=202)
async def create_server(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> JSONResponse:
    mv = requested_microversion(request)
    body = _object(await _body(request), "server")
    allowed = {
        "name",
        "imageRef",
        "flavorRef",
        "availability_zone",
        "metadata",
        "min_count",
        "max_count",
        *CREATE_IGNORED,
    }
    if mv.at_least("2.19"):
        allowed.add("description")
    if mv.at_least("2.74"):
        allowed |= {"host", "hypervisor_hostname"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise _bad("Invalid input for field/attribute name. 'name' is a required property")
    if not isinstance(body.get("flavorRef"), str | int) or body.get("flavorRef") in ("", None):
        raise _bad(
            "Invalid input for field/attribute flavorRef. 'flavorRef' is a required property"
        )
    image = body.get("imageRef", "")
    if not isinstance(image, str) or len(image) > 255:
        raise _bad("Invalid input for field/attribute imageRef. Value must be a string.")
    for key in ("min_count", "max_count"):
        if key in body and str(body[key]) != "1":
            raise _bad(f"Invalid input for field/attribute {key}: Stateward registers one server")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise _bad("Invalid input for field/attribute description.")
    metadata = _metadata("metadata", body.get("metadata", {}))
    project = ctx.project_id
    assert project is not None
    runtime.policy.enforce("os_compute_api:servers:create", ctx, target(project))
    host: str | None = None
    zone = "nova"
    az = body.get("availability_zone")
    if az is not None:
        if not isinstance(az, str) or not az or len(az) > 255:
            raise _bad("Invalid input for field/attribute availability_zone.")
        zone, _, rest = az.partition(":")
        zone = zone or "nova"
        if rest:
            runtime.policy.enforce(
                "os_compute_api:servers:create:forced_host", ctx, target(project)
            )
            host = rest.split(":", 1)[0] or None
    for key in ("host", "hypervisor_hostname"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > 255:
            raise _bad(f"Invalid input for field/attribute {key}.")
        runtime.policy.enforce("compute:servers:create:requested_destination", ctx, target(project))
        if host is not None and host != value:
            raise _bad(f"Invalid input: {key} '{value}' contradicts host '{host}'")
        host = value
    if host is None:
        raise _bad(
            "Stateward registers servers on a named host: give 'host' (microversion 2.74) "
            "or availability_zone 'nova:HOST'."
        )
    server = await runtime.compute.create_server(
        project,
        ctx.user_id,
        host,
        {
            "name": name,
            "imageRef": image,
            "flavorRef": str(body["flavorRef"]),
            "zone": zone,
            "description": description,
            "metadata": metadata,
        },
    )
    links = _links(request, "servers", server.id)
    return JSONResponse(
        {
            "server": {
                "id": server.id,
                "links": links,
                "OS-DCF:diskConfig": "MANUAL",
                "security_groups": [{"name": "default"}],
                "adminPass": secrets.token_urlsafe(9),
            }
        },
        status_code=202,
        headers={"Location": links[0]["href"]},
    )


@router.get("/servers/{server_id}")
async def show_server(
    server_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    server = await _visible_server(runtime, ctx, server_id)
    runtime.policy.enforce("os_compute_api:servers:show", ctx, target(server.project_id))
    return {"server": (await _views(request, runtime, ctx, [server], mv, server.project_id))[0]}


@router.put("/servers/{server_id}")
async def update_server(
    server_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    body = _object(await _body(request), "server")
    allowed = {"name", "description"} if mv.at_least("2.19") else {"name"}
    allowed |= {"accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    if "name" in body and (
        not isinstance(body["name"], str) or not body["name"].strip() or len(body["name"]) > 255
    ):
        raise _bad("Invalid input for field/attribute name.")
    if (
        "description" in body
        and body["description"] is not None
        and (not isinstance(body["description"], str) or len(body["description"]) > 255)
    ):
        raise _bad("Invalid input for field/attribute description.")
    server = await _visible_server(runtime, ctx, server_id)
    runtime.policy.enforce("os_compute_api:servers:update", ctx, target(server.project_id))
    changes: dict[str, Any] = {k: body[k] for k in ("name", "description") if k in body}
    server = await runtime.compute.update_server(server_id, changes)
    return {"server": (await _views(request, runtime, ctx, [server], mv, server.project_id))[0]}


@router.delete("/servers/{server_id}", status_code=204)
async def delete_server(
    server_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    server = await _visible_server(runtime, ctx, server_id)
    runtime.policy.enforce("os_compute_api:servers:delete", ctx, target(server.project_id))
    await runtime.compute.delete_server(server_id)
    return Response(status_code=204)


@router.post("/servers/{server_id}/action")
async def server_action(
    server_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    body = await _body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise _bad("Invalid action body: exactly one action is expected.")
    action, args = next(iter(body.items()))
    if action != "os-resetState":
        raise _bad(f"There is no such action: {action}")
    if not isinstance(args, dict) or set(args) != {"state"}:
        raise _bad("Invalid input for field/attribute os-resetState. 'state' is required.")
    state = args["state"]
    if state not in rules.RESET_STATES:
        raise _bad(
            f"Invalid input for field/attribute state. Value: {state}. "
            f"'{state}' is not one of ['active', 'error']"
        )
    server = await _visible_server(runtime, ctx, server_id)
    runtime.policy.enforce(
        "os_compute_api:os-admin-actions:reset_state", ctx, target(server.project_id)
    )
    await runtime.compute.reset_state(server_id, state)
    return Response(status_code=202)


# server metadata ---------------------------------------------------------------------------


async def _meta_server(runtime: Runtime, ctx: AuthContext, server_id: str, action: str) -> Server:
    server = await _visible_server(runtime, ctx, server_id)
    runtime.policy.enforce(
        f"os_compute_api:server-metadata:{action}", ctx, target(server.project_id)
    )
    return server


@router.get("/servers/{server_id}/metadata")
async def get_metadata(
    server_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    server = await _meta_server(runtime, ctx, server_id, "index")
    return {"metadata": dict(server.metadata)}


@router.post("/servers/{server_id}/metadata")
async def merge_metadata(
    server_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    items = _metadata("metadata", _object(await _body(request), "metadata"))
    await _meta_server(runtime, ctx, server_id, "create")
    server = await runtime.compute.set_metadata(server_id, items)
    return {"metadata": dict(server.metadata)}


@router.put("/servers/{server_id}/metadata")
async def replace_metadata(
    server_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    items = _metadata("metadata", _object(await _body(request), "metadata"))
    await _meta_server(runtime, ctx, server_id, "update_all")
    server = await runtime.compute.set_metadata(server_id, items, replace=True)
    return {"metadata": dict(server.metadata)}


@router.get("/servers/{server_id}/metadata/{key}")
async def get_metadata_item(
    server_id: str,
    key: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    server = await _meta_server(runtime, ctx, server_id, "show")
    if key not in server.metadata:
        raise NotFound("Metadata item was not found")
    return {"meta": {key: server.metadata[key]}}


@router.put("/servers/{server_id}/metadata/{key}")
async def set_metadata_item(
    server_id: str,
    key: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    meta = _metadata("meta", _object(await _body(request), "meta"))
    if len(meta) != 1:
        raise _bad("Request body contains too many items")
    if key not in meta:
        raise _bad("Request body and URI mismatch")
    await _meta_server(runtime, ctx, server_id, "update")
    await runtime.compute.set_metadata(server_id, meta)
    return {"meta": meta}


@router.delete("/servers/{server_id}/metadata/{key}", status_code=204)
async def delete_metadata_item(
    server_id: str,
    key: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    await _meta_server(runtime, ctx, server_id, "delete")
    await runtime.compute.delete_metadata_key(server_id, key)
    return Response(status_code=204)


# flavors: there is no flavor service; answer so clients that look flavors up do not fail ---


@router.get("/flavors")
@router.get("/flavors/detail")
async def list_flavors(ctx: AuthContext = Depends(get_project_context)) -> dict[str, Any]:
    return {"flavors": []}


@router.get("/flavors/{flavor_id}")
async def show_flavor(flavor_id: str, ctx: AuthContext = Depends(get_project_context)) -> None:
    raise NotFound(f"Flavor {flavor_id} could not be found.")
