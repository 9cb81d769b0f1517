"""Glance v2 image members: an owner shares a ``shared`` image, the member accepts it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.body import json_body
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.api.image.views import member_view
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.runtime import Runtime
from stateward.services.images import Caller

router = APIRouter(prefix="/image/v2/images/{image_id}/members", tags=["image"])


# What clients may echo back from a member they read (openstacksdk sends the member it has).
READ_ONLY = {"member_id", "image_id", "created_at", "updated_at", "schema", "id", "member"}


def _field(payload: Any, key: str) -> Any:
    if not isinstance(payload, dict) or key not in payload:
        raise InvalidInput(f"Provided object does not match schema 'member': '{key}' is required")
    unknown = sorted(set(payload) - {key} - READ_ONLY)
    if unknown:
        raise InvalidInput(
            f"Provided object does not match schema 'member': '{unknown[0]}' is not allowed"
        )
    return payload[key]


@router.get("")
async def list_members(
    image_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_members", ctx, target(ctx.project_id))
    members = await runtime.images.members(image_id, Caller.of(ctx))
    return {"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"}


@router.post("")
async def add_member(
    image_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    member = _field(await json_body(request), "member")
    runtime.policy.enforce("add_member", ctx, target(ctx.project_id))
    return member_view(await runtime.images.add_member(image_id, member, Caller.of(ctx)))


@router.get("/{member_id}")
async def show_member(
    image_id: str,
    member_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_member", ctx, target(ctx.project_id))
    return member_view(await runtime.images.member(image_id, member_id, Caller.of(ctx)))


@router.put("/{member_id}")
async def update_member(
    image_id: str,
    member_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    status = _field(await json_body(request), "status")
    runtime.policy.enforce("modify_member", ctx, target(ctx.project_id))
    member = await runtime.images.set_member_status(image_id, member_id, status, Caller.of(ctx))
    return member_view(member)


@router.delete("/{member_id}", status_code=204)
async def delete_member(
    image_id: str,
    member_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("delete_member", ctx, target(ctx.project_id))
    await runtime.images.delete_member(image_id, member_id, Caller.of(ctx))
    return Response(status_code=204)
