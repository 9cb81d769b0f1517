"""Nova's servers: list (Nova's filters, 2.75's strict query), show, update, delete, actions.

Creating a server (scheduling, ports) is ``server_create``; the representation is
``server_views``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.compute.common import bad as _bad
from stateward.api.compute.common import body as _body
from stateward.api.compute.common import links as _links
from stateward.api.compute.common import object_body as _object
from stateward.api.compute.common import truthy as _truthy
from stateward.api.compute.server_views import server_views as _views
from stateward.api.compute.server_views import visible_server as _visible_server
from stateward.api.compute.versions import Microversion, requested_microversion
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.api.urls import base_url
from stateward.domain import compute as rules
from stateward.domain.compute import Server
from stateward.domain.errors import Forbidden
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:servers:index", "rule:admin_or_reader"),
        rule("os_compute_api:servers:detail", "rule:admin_or_reader"),
        rule("os_compute_api:servers:show", "rule:admin_or_reader"),
        rule("os_compute_api:servers:index:get_all_tenants", "rule:admin"),
        rule("os_compute_api:servers:detail:get_all_tenants", "rule:admin"),
        rule("os_compute_api:servers:show:host_status", "rule:admin"),
        rule("os_compute_api:os-extended-server-attributes", "rule:admin"),
        rule("os_compute_api:servers:update", "rule:admin_or_member"),
        rule("os_compute_api:servers:delete", "rule:admin_or_member or rule:service"),
        rule("os_compute_api:os-admin-actions:reset_state", "rule:admin_or_service"),
    ]
)


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
