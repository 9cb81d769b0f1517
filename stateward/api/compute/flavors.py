"""Nova's flavors: list/show/create/update/delete, extra specs and private flavors' access.

Shaped per microversion: 2.55 ``description`` (and update), 2.61 ``extra_specs`` in the flavor,
2.75 ``swap`` 0 rather than ``""`` when there is none.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.compute.common import bad, body, links, no_extra, object_body
from stateward.api.compute.versions import Microversion, requested_microversion
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain import flavor as rules
from stateward.domain.errors import NotFound
from stateward.domain.events import utcnow
from stateward.domain.flavor import Flavor
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:os-flavor-manage:create", "rule:admin", "Create a flavor."),
        rule("os_compute_api:os-flavor-manage:update", "rule:admin", "Update a description."),
        rule("os_compute_api:os-flavor-manage:delete", "rule:admin", "Delete a flavor."),
        rule("os_compute_api:os-flavor-extra-specs:index", "rule:admin_or_reader"),
        rule("os_compute_api:os-flavor-extra-specs:show", "rule:admin_or_reader"),
        rule("os_compute_api:os-flavor-extra-specs:create", "rule:admin"),
        rule("os_compute_api:os-flavor-extra-specs:update", "rule:admin"),
        rule("os_compute_api:os-flavor-extra-specs:delete", "rule:admin"),
        rule("os_compute_api:os-flavor-access", "rule:admin", "List a private flavor's access."),
        rule("os_compute_api:os-flavor-access:add_tenant_access", "rule:admin"),
        rule("os_compute_api:os-flavor-access:remove_tenant_access", "rule:admin"),
    ]
)


def flavor_view(
    request: Request, f: Flavor, mv: Microversion, *, detail: bool, specs: bool
) -> dict[str, Any]:
    view: dict[str, Any] = {"id": f.id, "name": f.name, "links": links(request, "flavors", f.id)}
    if mv.at_least("2.55"):
        view["description"] = f.description
    if not detail:
        return view
    view.update(
        {
            "ram": f.ram,
            "disk": f.disk,
            "vcpus": f.vcpus,
            "swap": f.swap if f.swap or mv.at_least("2.75") else "",
            "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
            "OS-FLV-DISABLED:disabled": f.disabled,
            "os-flavor-access:is_public": f.is_public,
            "rxtx_factor": f.rxtx_factor,
        }
    )
    if mv.at_least("2.61") and specs:
        view["extra_specs"] = dict(f.extra_specs)
    return view


def _specs_allowed(runtime: Runtime, ctx: AuthContext) -> bool:
    return runtime.policy.allowed(
        "os_compute_api:os-flavor-extra-specs:index", ctx, target(ctx.project_id)
    )


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad(f"Invalid {name} filter [{value}]")
    if number < 0:
        raise bad(f"Invalid {name} filter [{value}]")
    return number


async def _list(request: Request, ctx: AuthContext, runtime: Runtime) -> list[Flavor]:
    params = request.query_params
    is_public: bool | None = True
    if ctx.is_admin and "is_public" in params:
        raw = params["is_public"].strip().lower()
        if raw in ("none", "null", "all"):
            is_public = None
        elif raw in ("true", "1", "t", "yes", "y", "on"):
            is_public = True
        elif raw in ("false", "0", "f", "no", "n", "off"):
            is_public = False
        else:
            raise bad(f"Invalid is_public filter [{params['is_public']}]")
    flavors = await runtime.flavors.list(
        ctx.project_id,
        is_public=is_public,
        min_ram=_int_param(request, "minRam"),
        min_disk=_int_param(request, "minDisk"),
    )
    if not ctx.is_admin:
        flavors = [f for f in flavors if not f.disabled]
    sort_key = params.get("sort_key", "flavorid")
    sort_dir = params.get("sort_dir", "asc")
    keys = {"flavorid", "name", "memory_mb", "vcpus", "root_gb", "swap", "ephemeral_gb", "id"}
    if sort_key not in keys or sort_dir not in ("asc", "desc"):
        raise bad(f"Invalid sort key or direction: {sort_key} {sort_dir}")
    if sort_key != "flavorid" or sort_dir != "asc":
        attr = {
            "flavorid": "id",
            "id": "id",
            "memory_mb": "ram",
            "root_gb": "disk",
            "ephemeral_gb": "ephemeral",
        }.get(sort_key, sort_key)
        flavors.sort(key=lambda f: getattr(f, attr), reverse=sort_dir == "desc")
    if params.get("marker"):
        ids = [f.id for f in flavors]
        if params["marker"] not in ids:
            raise bad(f"marker [{params['marker']}] not found")
        flavors = flavors[ids.index(params["marker"]) + 1 :]
    limit = _int_param(request, "limit")
    return flavors[:limit] if limit else flavors


@router.get("/flavors")
async def list_flavors(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    flavors = await _list(request, ctx, runtime)
    return {"flavors": [flavor_view(request, f, mv, detail=False, specs=False) for f in flavors]}


@router.get("/flavors/detail")
async def list_flavors_detail(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    flavors = await _list(request, ctx, runtime)
    specs = _specs_allowed(runtime, ctx)
    return {"flavors": [flavor_view(request, f, mv, detail=True, specs=specs) for f in flavors]}


@router.get("/flavors/{flavor_id}")
async def show_flavor(
    flavor_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    flavor = await runtime.flavors.get(flavor_id, ctx.project_id, admin=ctx.is_admin)
    specs = _specs_allowed(runtime, ctx)
    return {"flavor": flavor_view(request, flavor, mv, detail=True, specs=specs)}


@router.post("/flavors")
async def create_flavor(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-flavor-manage:create", ctx, target(ctx.project_id))
    attrs = object_body(await body(request), "flavor")
    flavor = rules.new_flavor(attrs, utcnow(), with_description=mv.at_least("2.55"))
    flavor = await runtime.flavors.create(flavor)
    return {"flavor": flavor_view(request, flavor, mv, detail=True, specs=True)}


@router.put("/flavors/{flavor_id}")
async def update_flavor(
    flavor_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    if not mv.at_least("2.55"):
        raise NotFound("The resource could not be found.")
    runtime.policy.enforce("os_compute_api:os-flavor-manage:update", ctx, target(ctx.project_id))
    attrs = object_body(await body(request), "flavor")
    if set(attrs) != {"description"}:
        raise bad("Invalid input for field/attribute flavor. 'description' is a required property")
    flavor = await runtime.flavors.set_description(
        flavor_id, rules.description(attrs["description"])
    )
    return {"flavor": flavor_view(request, flavor, mv, detail=True, specs=True)}


@router.delete("/flavors/{flavor_id}", status_code=202)
async def delete_flavor(
    flavor_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("os_compute_api:os-flavor-manage:delete", ctx, target(ctx.project_id))
    await runtime.flavors.delete(flavor_id)
    return Response(status_code=202)


# extra specs -----------------------------------------------------------------------------------


async def _specs_of(
    runtime: Runtime, ctx: AuthContext, flavor_id: str, action: str
) -> dict[str, str]:
    runtime.policy.enforce(
        f"os_compute_api:os-flavor-extra-specs:{action}", ctx, target(ctx.project_id)
    )
    flavor = await runtime.flavors.get(flavor_id, ctx.project_id, admin=ctx.is_admin)
    return dict(flavor.extra_specs)


@router.get("/flavors/{flavor_id}/os-extra_specs")
async def list_extra_specs(
    flavor_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    return {"extra_specs": await _specs_of(runtime, ctx, flavor_id, "index")}


@router.post("/flavors/{flavor_id}/os-extra_specs")
async def create_extra_specs(
    flavor_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce(
        "os_compute_api:os-flavor-extra-specs:create", ctx, target(ctx.project_id)
    )
    specs = rules.extra_specs(object_body(await body(request), "extra_specs"))
    await runtime.flavors.set_extra_specs(flavor_id, specs)
    return {"extra_specs": specs}


@router.get("/flavors/{flavor_id}/os-extra_specs/{key}")
async def show_extra_spec(
    flavor_id: str,
    key: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    specs = await _specs_of(runtime, ctx, flavor_id, "show")
    if key not in specs:
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return {key: specs[key]}


@router.put("/flavors/{flavor_id}/os-extra_specs/{key}")
async def update_extra_spec(
    flavor_id: str,
    key: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce(
        "os_compute_api:os-flavor-extra-specs:update", ctx, target(ctx.project_id)
    )
    payload = await body(request)
    if not isinstance(payload, dict) or len(payload) != 1:
        raise bad("Request body contains too many items")
    if key not in payload:
        raise bad("Request body and URI mismatch")
    specs = rules.extra_specs(payload)
    await runtime.flavors.set_extra_specs(flavor_id, specs)
    return specs


@router.delete("/flavors/{flavor_id}/os-extra_specs/{key}")
async def delete_extra_spec(
    flavor_id: str,
    key: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce(
        "os_compute_api:os-flavor-extra-specs:delete", ctx, target(ctx.project_id)
    )
    await runtime.flavors.delete_extra_spec(flavor_id, key)
    return Response(status_code=200)


# access ----------------------------------------------------------------------------------------


def _access_view(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


@router.get("/flavors/{flavor_id}/os-flavor-access")
async def list_access(
    flavor_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("os_compute_api:os-flavor-access", ctx, target(ctx.project_id))
    return _access_view(flavor_id, await runtime.flavors.access(flavor_id))


@router.post("/flavors/{flavor_id}/action")
async def flavor_action(
    flavor_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    payload = await body(request)
    if not isinstance(payload, dict) or len(payload) != 1:
        raise bad("Invalid action body: exactly one action is expected.")
    action = next(iter(payload))
    if action not in ("addTenantAccess", "removeTenantAccess"):
        raise bad(f"There is no such action: {action}")
    args = object_body(payload, action)
    no_extra(args, {"tenant"})
    tenant = args.get("tenant")
    if not isinstance(tenant, str) or not 1 <= len(tenant) <= 255:
        raise bad(f"Invalid input for field/attribute {action}. 'tenant' is a required property")
    if action == "addTenantAccess":
        runtime.policy.enforce(
            "os_compute_api:os-flavor-access:add_tenant_access", ctx, target(ctx.project_id)
        )
        projects = await runtime.flavors.add_access(flavor_id, tenant)
    else:
        runtime.policy.enforce(
            "os_compute_api:os-flavor-access:remove_tenant_access", ctx, target(ctx.project_id)
        )
        projects = await runtime.flavors.remove_access(flavor_id, tenant)
    return _access_view(flavor_id, projects)
