"""Neutron's quotas extension: ``/v2.0/quotas`` per project, with usage details and defaults.

Values come from the one quota engine (Nova's and Aodh's limits live there too); a creation
beyond a limit is refused with Neutron's 409 ``OverQuota``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.body import json_body, resource_body
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.api.networking.root import EXTENSIONS
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/networking/v2.0/quotas", tags=["networking"])

EXTENSIONS.extend(
    [
        ("quotas", "Quota management support", "Expose functions for quotas management"),
        ("quota_details", "Quota details management support", "Expose quota usage details"),
    ]
)

register(
    [
        rule("get_quota", "rule:admin_or_reader", "Show a project's network quotas."),
        rule("update_quota", "rule:admin", "Set a project's network quotas."),
        rule("delete_quota", "rule:admin", "Reset a project's network quotas to the defaults."),
    ]
)


def _check_project(project_id: str) -> str:
    if not 1 <= len(project_id) <= 255 or "\x00" in project_id:
        raise InvalidInput(f"Invalid project id {project_id[:40]!r}")
    return project_id


@router.get("")
async def list_quotas(
    ctx: AuthContext = Depends(get_project_context), runtime: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    """Projects with limits of their own (admins see all, others only their own)."""
    projects = await runtime.quotas.projects("network")
    if not ctx.is_admin:
        projects = {p: v for p, v in projects.items() if p == ctx.project_id}
    return {
        "quotas": [
            {**limits, "project_id": project, "tenant_id": project}
            for project, limits in sorted(projects.items())
        ]
    }


@router.get("/tenant")
async def current_tenant(ctx: AuthContext = Depends(get_project_context)) -> dict[str, Any]:
    return {"tenant": {"tenant_id": ctx.project_id}}


@router.get("/{project_id}")
async def show_quota(
    project_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_quota", ctx, target(_check_project(project_id)))
    return {"quota": await runtime.quotas.limits("network", project_id)}


@router.get("/{project_id}/details")
@router.get("/{project_id}/details.json", include_in_schema=False)
async def show_quota_details(
    project_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_quota", ctx, target(_check_project(project_id)))
    usage = await runtime.quotas.usage("network", project_id)
    return {
        "quota": {
            name: {"limit": limit, "used": used, "reserved": 0}
            for name, (limit, used) in usage.items()
        }
    }


@router.get("/{project_id}/default")
async def show_quota_default(
    project_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_quota", ctx, target(_check_project(project_id)))
    return {"quota": await runtime.quotas.defaults("network")}


@router.put("/{project_id}")
async def update_quota(
    project_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    values = dict(resource_body(await json_body(request), "quota"))
    runtime.policy.enforce("update_quota", ctx, target(_check_project(project_id)))
    force = values.pop("force", False)
    check_limit = values.pop("check_limit", False)
    for name, flag in (("force", force), ("check_limit", check_limit)):
        if not isinstance(flag, bool):
            raise InvalidInput(f"Invalid input for {name}. Reason: '{flag}' is not a boolean.")
    # Neutron checks usage only when asked (check_limit); the CLI asks unless --force.
    limits = await runtime.quotas.update(
        "network",
        project_id,
        runtime.quotas.parse("network", values),
        force=force or not check_limit,
    )
    return {"quota": limits}


@router.delete("/{project_id}", status_code=204)
async def delete_quota(
    project_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("delete_quota", ctx, target(_check_project(project_id)))
    await runtime.quotas.reset("network", project_id)
    return Response(status_code=204)
