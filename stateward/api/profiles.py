"""``/v1/profiles``: the performance profiler's stored profiles (Doctor seed 001).

- ``GET /v1/profiles`` — newest first, ``limit``/``marker`` paging.
- ``GET /v1/profiles/{id}`` — the JSON export: ``T00``..``T10`` in ms from T00, modules
  ``M00``.. and their spans, missing checkpoints and problems.
- ``POST /v1/profiles/{id}/checkpoints`` — ``{"checkpoints": {"T09": <epoch s>, ...}}``; a
  consumer on another machine posts the checkpoints only it can see. Idempotent: a checkpoint
  keeps the earliest time recorded (the answer lists ``recorded`` and ``kept``).
- ``GET /v1/profiles/{id}/svg`` and ``.../png`` — the profile drawn for reports.

Policy: every action defaults to ``rule:admin_or_service``. Profiles describe the
infrastructure's inner timings (hosts, processes), which is operator information, and the
consumers that post T09/T10 are services (their manager holds a service user or an
application credential with the ``service`` role). Operators can widen it in policy.yaml.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.body import json_body
from stateward.api.deps import get_context, get_runtime
from stateward.api.listing import list_response, parse_list_query
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.profiler.png import render_png
from stateward.profiler.render import render_svg
from stateward.runtime import Runtime

router = APIRouter(prefix="/v1/profiles", tags=["profiler"])

register(
    [
        rule("profiles:list", "rule:admin_or_service", "List performance profiles."),
        rule("profiles:get", "rule:admin_or_service", "Show a performance profile."),
        rule(
            "profiles:add_checkpoints",
            "rule:admin_or_service",
            "Post checkpoints (e.g. a consumer's T09/T10) to a profile.",
        ),
    ]
)

MAX_LIMIT = 1000
BODY_KEYS = {"checkpoints", "process", "meta"}


@router.get("")
async def list_profiles(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: AuthContext = Depends(get_context),
) -> dict[str, Any]:
    runtime.policy.enforce("profiles:list", ctx)
    query = parse_list_query(request, {})
    limit = min(query.limit or 50, MAX_LIMIT)
    query.limit = limit
    profiles = await runtime.profiles.list_profiles(limit=limit, marker=query.marker)
    return list_response(request, "profiles", [p.summary() for p in profiles], query)


@router.get("/{trace_id}")
async def show_profile(
    trace_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: AuthContext = Depends(get_context),
) -> dict[str, Any]:
    runtime.policy.enforce("profiles:get", ctx)
    profile = await runtime.profiles.get(trace_id)
    return {"profile": profile.to_export()}


@router.get("/{trace_id}/svg")
async def profile_svg(
    trace_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: AuthContext = Depends(get_context),
) -> Response:
    runtime.policy.enforce("profiles:get", ctx)
    profile = await runtime.profiles.get(trace_id)
    return Response(render_svg(profile), media_type="image/svg+xml")


@router.get("/{trace_id}/png")
async def profile_png(
    trace_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: AuthContext = Depends(get_context),
) -> Response:
    runtime.policy.enforce("profiles:get", ctx)
    profile = await runtime.profiles.get(trace_id)
    return Response(await asyncio.to_thread(render_png, profile), media_type="image/png")


@router.post("/{trace_id}/checkpoints")
async def add_checkpoints(
    trace_id: str,
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    ctx: AuthContext = Depends(get_context),
) -> dict[str, Any]:
    runtime.policy.enforce("profiles:add_checkpoints", ctx)
    body = await json_body(request)
    if not isinstance(body, dict) or "checkpoints" not in body:
        raise InvalidInput(
            "Invalid input: expected an object with 'checkpoints', e.g. "
            '{"checkpoints": {"T09": 1795306991.25, "T10": 1795306991.26}}.'
        )
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise InvalidInput(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    process = body.get("process", ctx.user_name or "")
    if not isinstance(process, str) or len(process) > 255:
        raise InvalidInput("Invalid input for process: expected a string of at most 255.")
    meta = body.get("meta", {})
    if not isinstance(meta, dict):
        raise InvalidInput("Invalid input for meta: expected an object.")
    profile, recorded, kept = await runtime.profiles.post_checkpoints(
        trace_id, body["checkpoints"], process=process, meta=meta
    )
    return {"profile": profile.to_export(), "recorded": recorded, "kept": kept}
