"""Keystone v3 application credentials, under ``/users/{user_id}``: a user creates, lists,
shows and deletes their own (an admin may do so for anyone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.deps import get_context, get_runtime
from stateward.api.identity_admin.views import app_cred_view, collection, flag, resource, text
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

OWNER_OR_ADMIN = "user_id:%(user_id)s or rule:admin"

register(
    [
        rule("identity:create_application_credential", OWNER_OR_ADMIN, "Create one."),
        rule("identity:list_application_credentials", OWNER_OR_ADMIN, "List a user's."),
        rule("identity:get_application_credential", OWNER_OR_ADMIN, "Show one."),
        rule("identity:delete_application_credential", OWNER_OR_ADMIN, "Delete one."),
    ]
)

router = APIRouter()

BASE = "/users/{user_id}/application_credentials"


def _expiry(body: dict[str, Any]) -> datetime | None:
    raw = body.get("expires_at")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidInput("Invalid input for field 'expires_at': expected a date and time.")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"Invalid input for field 'expires_at': {raw!r} is not ISO 8601.")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _roles(body: dict[str, Any]) -> list[str] | None:
    raw = body.get("roles")
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > 64:
        raise InvalidInput("Invalid input for field 'roles': expected a list of roles.")
    refs = []
    for item in raw:
        ref = item.get("id") or item.get("name") if isinstance(item, dict) else None
        if not isinstance(ref, str) or not ref:
            raise InvalidInput("Invalid input for field 'roles': each role needs an id or a name.")
        refs.append(ref)
    return refs


async def _role_ids(runtime: Runtime) -> dict[str, str]:
    return {r.name: r.id for r in await runtime.identity.roles.list_roles()}


@router.post(BASE, status_code=201)
async def create_app_cred(
    user_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    """For oneself: on the token's project, with at most the token's roles. An admin may
    create one for another user by naming its ``project_id`` (a Stateward extension)."""
    runtime.policy.enforce("identity:create_application_credential", ctx, {"user_id": user_id})
    await runtime.identity.app_creds.check_may_create(ctx.app_cred_id)
    body = await resource(request, "application_credential")
    for_self = user_id == ctx.user_id
    project = text(body, "project_id", max_len=64) or (ctx.project_id if for_self else None)
    if project is None:
        raise InvalidInput(
            "A project-scoped token is required (or, for another user, a project_id)."
        )
    if for_self and project != ctx.project_id:
        raise InvalidInput("An application credential is for the project of the token used.")
    unrestricted = flag(body, "unrestricted")
    cred, secret = await runtime.identity.app_creds.create(
        user_id,
        project,
        text(body, "name", required=True, empty=False) or "",
        roles=_roles(body),
        expires_at=_expiry(body),
        description=text(body, "description", max_len=65535) or "",
        unrestricted=bool(unrestricted),
        secret=text(body, "secret", max_len=4096),
        limit_to=list(ctx.roles) if for_self else None,
    )
    view = app_cred_view(request, cred, await _role_ids(runtime), secret)
    return {"application_credential": view}


@router.get(BASE)
async def list_app_creds(
    user_id: str,
    request: Request,
    name: str | None = None,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:list_application_credentials", ctx, {"user_id": user_id})
    await runtime.identity.principals.get_user(user_id)
    creds = await runtime.identity.app_creds.list(user_id, name)
    ids = await _role_ids(runtime)
    return collection(
        request, "application_credentials", [app_cred_view(request, c, ids) for c in creds]
    )


@router.get(BASE + "/{cred_id}")
async def show_app_cred(
    user_id: str,
    cred_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("identity:get_application_credential", ctx, {"user_id": user_id})
    cred = await runtime.identity.app_creds.get(user_id, cred_id)
    return {"application_credential": app_cred_view(request, cred, await _role_ids(runtime))}


@router.delete(BASE + "/{cred_id}", status_code=204)
async def delete_app_cred(
    user_id: str,
    cred_id: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """Delete it; tokens obtained with it stop working at once."""
    runtime.policy.enforce("identity:delete_application_credential", ctx, {"user_id": user_id})
    await runtime.identity.app_creds.delete(cred_id, user_id)
    return Response(status_code=204)
