"""Keystone v3 projects (list, create, show, update, delete) and domains (read-only: Stateward
has the one ``Default`` domain)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.deps import get_context, get_runtime
from stateward.api.identity_admin.views import (
    collection,
    domain_view,
    flag,
    project_view,
    query_bool,
    resource,
    text,
)
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import DEFAULT_DOMAIN_ID, AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

register(
    [
        rule("identity:list_projects", "rule:admin", "List every project."),
        rule("identity:get_project", "rule:admin or project_id:%(project_id)s", "Show a project."),
        rule("identity:create_project", "rule:admin", "Create a project."),
        rule("identity:update_project", "rule:admin", "Update a project."),
        rule("identity:delete_project", "rule:admin", "Delete a project."),
        rule("identity:list_domains", "rule:any_authenticated", "List domains."),
        rule("identity:get_domain", "rule:any_authenticated", "Show a domain."),
    ]
)

router = APIRouter()


@router.get("/projects")
async def list_projects(
    request: Request,
    name: str | None = None,
    domain_id: str | None = None,
    enabled: str | None = None,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_projects", ctx)
    projects = await runtime.identity.principals.list_projects(
        name=name, domain_id=domain_id, enabled=query_bool(enabled, "enabled")
    )
    return collection(request, "projects", [project_view(request, p) for p in projects])


@router.post("/projects", status_code=201)
async def create_project(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:create_project", ctx)
    body = await resource(request, "project")
    if flag(body, "is_domain"):
        raise InvalidInput("Projects acting as domains are not supported.")
    domain_id = text(body, "domain_id", max_len=64)
    parent_id = text(body, "parent_id", max_len=64)
    if parent_id and parent_id != (domain_id or DEFAULT_DOMAIN_ID):
        raise InvalidInput("Project hierarchies are not supported: parent_id must be the domain.")
    enabled = flag(body, "enabled")
    project = await runtime.identity.principals.create_project(
        text(body, "name", required=True, max_len=64, empty=False) or "",
        text(body, "description", max_len=65535) or "",
        domain_id,
        True if enabled is None else enabled,
    )
    return {"project": project_view(request, project)}


@router.get("/projects/{project_id}")
async def show_project(
    project_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:get_project", ctx, {"project_id": project_id})
    project = await runtime.identity.principals.get_project(project_id)
    return {"project": project_view(request, project)}


@router.patch("/projects/{project_id}")
async def update_project(
    project_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:update_project", ctx, {"project_id": project_id})
    body = await resource(request, "project")
    project = await runtime.identity.principals.update_project(
        project_id,
        name=text(body, "name", max_len=64, empty=False),
        description=text(body, "description", max_len=65535),
        enabled=flag(body, "enabled"),
    )
    return {"project": project_view(request, project)}


@router.delete("/projects/{project_id}", status_code=204)
async def delete_project(
    project_id: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("identity:delete_project", ctx, {"project_id": project_id})
    await runtime.identity.principals.delete_project(project_id)
    return Response(status_code=204)


@router.get("/domains")
async def list_domains(
    request: Request,
    name: str | None = None,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_domains", ctx)
    domains = await runtime.identity.principals.list_domains(name)
    return collection(request, "domains", [domain_view(request, d) for d in domains])


@router.get("/domains/{domain_id}")
async def show_domain(
    domain_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:get_domain", ctx)
    return {"domain": domain_view(request, await runtime.identity.principals.get_domain(domain_id))}
