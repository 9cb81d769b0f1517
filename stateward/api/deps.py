"""Request dependencies: the runtime, the authenticated caller, and policy checks."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from stateward.domain.errors import NotAuthenticated, NotFound
from stateward.domain.identity import AuthContext
from stateward.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_context(request: Request, runtime: Runtime = Depends(get_runtime)) -> AuthContext:
    """Every API call is authenticated: a missing or bad X-Auth-Token is a 401."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise NotAuthenticated("The request you have made requires authentication.")
    ctx = await runtime.identity.validate(token)
    request.state.context = ctx
    return ctx


async def get_project_context(ctx: AuthContext = Depends(get_context)) -> AuthContext:
    """Resource APIs need a project-scoped token."""
    if ctx.project_id is None:
        raise NotAuthenticated("A project-scoped token is required.")
    return ctx


def visible_to(ctx: AuthContext) -> str | None:
    """The project a caller's listings are limited to; None means all (admin)."""
    return None if ctx.is_admin else ctx.project_id


def ensure_visible(
    ctx: AuthContext, owner_project: str, not_found: NotFound, *, shared: bool = False
) -> None:
    """Another project's resource does not exist for the caller (404, never 403)."""
    if not ctx.is_admin and owner_project != ctx.project_id and not shared:
        raise not_found


def target(project_id: str | None, **extra: Any) -> dict[str, Any]:
    return {"project_id": project_id, "tenant_id": project_id, **extra}
