"""Keystone v3 users: list, create, show, update, delete, change own password, own projects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.deps import get_context, get_runtime
from stateward.api.identity_admin.views import (
    collection,
    flag,
    project_view,
    query_bool,
    resource,
    text,
    user_view,
)
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime
from stateward.services.identity import UserChanges
from stateward.services.identity.principals import UNSET

register(
    [
        rule("identity:list_users", "rule:admin", "List users."),
        rule("identity:get_user", "rule:admin or user_id:%(user_id)s", "Show a user."),
        rule("identity:create_user", "rule:admin", "Create a user."),
        rule("identity:update_user", "rule:admin", "Update a user (name, password, enabled...)."),
        rule("identity:delete_user", "rule:admin", "Delete a user."),
        rule("identity:change_password", "user_id:%(user_id)s", "Change one's own password."),
        rule(
            "identity:list_user_projects",
            "rule:admin or user_id:%(user_id)s",
            "List the projects a user has a role on.",
        ),
    ]
)

router = APIRouter()


@router.get("/users")
async def list_users(
    request: Request,
    name: str | None = None,
    domain_id: str | None = None,
    enabled: str | None = None,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_users", ctx)
    users = await runtime.identity.principals.list_users(
        name=name, domain_id=domain_id, enabled=query_bool(enabled, "enabled")
    )
    return collection(request, "users", [user_view(request, u) for u in users])


@router.post("/users", status_code=201)
async def create_user(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:create_user", ctx)
    body = await resource(request, "user")
    enabled = flag(body, "enabled")
    user = await runtime.identity.principals.create_user(
        text(body, "name", required=True, empty=False) or "",
        text(body, "password", max_len=4096),
        domain_id=text(body, "domain_id", max_len=64),
        default_project_id=text(body, "default_project_id", max_len=64),
        enabled=True if enabled is None else enabled,
        description=text(body, "description", max_len=65535) or "",
        email=text(body, "email"),
    )
    return {"user": user_view(request, user)}


@router.get("/users/{user_id}")
async def show_user(
    user_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:get_user", ctx, {"user_id": user_id})
    return {"user": user_view(request, await runtime.identity.principals.get_user(user_id))}


@router.patch("/users/{user_id}")
async def update_user(
    user_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:update_user", ctx, {"user_id": user_id})
    body = await resource(request, "user")
    changes = UserChanges(
        name=text(body, "name", empty=False),
        password=text(body, "password", max_len=4096),
        enabled=flag(body, "enabled"),
        description=text(body, "description", max_len=65535),
        email=text(body, "email") if "email" in body else UNSET,
        default_project_id=(
            text(body, "default_project_id", max_len=64) if "default_project_id" in body else UNSET
        ),
    )
    user = await runtime.identity.principals.update_user(user_id, changes)
    return {"user": user_view(request, user)}


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(
    user_id: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("identity:delete_user", ctx, {"user_id": user_id})
    await runtime.identity.principals.delete_user(user_id)
    return Response(status_code=204)


@router.post("/users/{user_id}/password", status_code=204)
async def change_password(
    user_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """A user changes their own password; every token of theirs is revoked."""
    runtime.policy.enforce("identity:change_password", ctx, {"user_id": user_id})
    body = await resource(request, "user")
    await runtime.identity.principals.change_password(
        user_id,
        text(body, "original_password", required=True, max_len=4096) or "",
        text(body, "password", required=True, max_len=4096) or "",
    )
    return Response(status_code=204)


@router.get("/users/{user_id}/projects")
async def list_user_projects(
    user_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_user_projects", ctx, {"user_id": user_id})
    projects = await runtime.identity.principals.user_projects(user_id)
    return collection(request, "projects", [project_view(request, p) for p in projects])
