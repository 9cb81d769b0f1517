"""Keystone v3 roles (CRUD), grants on projects (check, add, remove, list) and
``/role_assignments`` — what ``openstack role ...`` and OPNFV Doctor's ``User.create`` call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from stateward.api.deps import get_context, get_runtime
from stateward.api.identity_admin.views import (
    collection,
    query_bool,
    resource,
    role_view,
    text,
    v3,
)
from stateward.domain.errors import NotFound
from stateward.domain.identity import AuthContext, effective_roles
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

register(
    [
        rule("identity:list_roles", "rule:any_authenticated", "List roles."),
        rule("identity:get_role", "rule:any_authenticated", "Show a role."),
        rule("identity:create_role", "rule:admin", "Create a role."),
        rule("identity:update_role", "rule:admin", "Update a role."),
        rule("identity:delete_role", "rule:admin", "Delete a role (not a built-in one)."),
        rule("identity:check_grant", "rule:admin", "Check a role assignment."),
        rule("identity:list_grants", "rule:admin", "List a user's roles on a project."),
        rule("identity:create_grant", "rule:admin", "Give a user a role on a project."),
        rule("identity:revoke_grant", "rule:admin", "Take a role on a project from a user."),
        rule(
            "identity:list_role_assignments",
            "rule:admin or user_id:%(user_id)s",
            "List role assignments (a user may list their own with user.id).",
        ),
    ]
)

router = APIRouter()


@router.get("/roles")
async def list_roles(
    request: Request,
    name: str | None = None,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_roles", ctx)
    roles = await runtime.identity.roles.list_roles(name)
    return collection(request, "roles", [role_view(request, r) for r in roles])


@router.post("/roles", status_code=201)
async def create_role(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:create_role", ctx)
    body = await resource(request, "role")
    role = await runtime.identity.roles.create_role(
        text(body, "name", required=True, empty=False) or "",
        text(body, "description", max_len=255) or "",
    )
    return {"role": role_view(request, role)}


@router.get("/roles/{role_id}")
async def show_role(
    role_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:get_role", ctx)
    return {"role": role_view(request, await runtime.identity.roles.get_role(role_id))}


@router.patch("/roles/{role_id}")
async def update_role(
    role_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:update_role", ctx)
    body = await resource(request, "role")
    role = await runtime.identity.roles.update_role(
        role_id,
        name=text(body, "name", empty=False),
        description=text(body, "description", max_len=255),
    )
    return {"role": role_view(request, role)}


@router.delete("/roles/{role_id}", status_code=204)
async def delete_role(
    role_id: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("identity:delete_role", ctx)
    await runtime.identity.roles.delete_role(role_id)
    return Response(status_code=204)


GRANT = "/projects/{project_id}/users/{user_id}/roles/{role_id}"


@router.get("/projects/{project_id}/users/{user_id}/roles")
async def list_grants(
    project_id: str,
    user_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_grants", ctx)
    roles = await runtime.identity.roles.roles_of(user_id, project_id)
    return collection(request, "roles", [role_view(request, r) for r in roles])


@router.head(GRANT, status_code=204)
@router.get(GRANT, status_code=204)
async def check_grant(
    project_id: str,
    user_id: str,
    role_id: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """204 when the user has the role on the project, 404 otherwise (Keystone's answers)."""
    runtime.policy.enforce("identity:check_grant", ctx)
    if not await runtime.identity.roles.check(user_id, project_id, role_id):
        raise NotFound(
            f"Could not find role assignment with role: {role_id}, user or group: "
            f"{user_id}, project, domain, or system: {project_id}."
        )
    return Response(status_code=204)


@router.put(GRANT, status_code=204)
async def create_grant(
    project_id: str,
    user_id: str,
    role_id: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("identity:create_grant", ctx)
    await runtime.identity.roles.grant(user_id, project_id, role_id)
    return Response(status_code=204)


@router.delete(GRANT, status_code=204)
async def revoke_grant(
    project_id: str,
    user_id: str,
    role_id: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """Take the role away; the user's tokens on the project stop working at once."""
    runtime.policy.enforce("identity:revoke_grant", ctx)
    await runtime.identity.roles.revoke(user_id, project_id, role_id)
    return Response(status_code=204)


@router.get("/role_assignments")
async def list_role_assignments(
    request: Request,
    user_id: str | None = Query(None, alias="user.id"),
    project_id: str | None = Query(None, alias="scope.project.id"),
    role_id: str | None = Query(None, alias="role.id"),
    effective: str | None = None,
    include_names: str | None = None,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_role_assignments", ctx, {"user_id": user_id})
    # ``effective`` is a flag in Keystone: present (even empty) means true.
    expand = effective is not None and query_bool(effective or "true", "effective")
    names = bool(query_bool(include_names, "include_names"))
    rows = await runtime.identity.roles.assignments(user_id=user_id, project_id=project_id)
    ids = {r.name: r.id for r in await runtime.identity.roles.list_roles()}
    domains = {d.id: d.name for d in await runtime.identity.principals.list_domains()}
    items: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for row in rows:
        granted = [row["role_name"]]
        if expand:
            granted = effective_roles(granted)
        for role_name in granted:
            key = (row["user_id"], row["project_id"], role_name)
            if key in seen or (role_id is not None and ids.get(role_name) != role_id):
                continue
            seen.add(key)
            items.append(
                _assignment(
                    request, row, role_name, ids.get(role_name, ""), domains if names else None
                )
            )
    return collection(request, "role_assignments", items)


def _assignment(
    request: Request,
    row: dict[str, Any],
    role_name: str,
    role_id: str,
    domains: dict[str, str] | None,
) -> dict[str, Any]:
    """One assignment; with ``domains`` (id -> name) it carries names, as ``include_names``."""
    role: dict[str, Any] = {"id": role_id}
    project: dict[str, Any] = {"id": row["project_id"]}
    user: dict[str, Any] = {"id": row["user_id"]}
    if domains is not None:
        role["name"] = role_name
        for target, kind in ((project, "project"), (user, "user")):
            domain_id = row[f"{kind}_domain_id"]
            target["name"] = row[f"{kind}_name"]
            target["domain"] = {"id": domain_id, "name": domains.get(domain_id, domain_id)}
    link = v3(
        request,
        f"projects/{row['project_id']}/users/{row['user_id']}/roles/{row['role_id']}",
    )
    return {
        "role": role,
        "scope": {"project": project},
        "user": user,
        "links": {"assignment": link},
    }
