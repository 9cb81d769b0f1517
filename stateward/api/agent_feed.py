"""Stateward's /v1/chassis/{name}/feed: a chassis agent's view, snapshot plus changes.

``GET .../feed/snapshot`` answers every object the chassis' views hold and the sequence number
it is current at; ``GET .../feed?since=N&epoch=E&wait=S`` answers the changes after ``N``,
holding the request up to ``S`` seconds while there are none (long-poll), or ``resync`` with a
reason when the agent must take a snapshot (another epoch, entries pruned).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from stateward.api.deps import get_context, get_runtime
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

register(
    [
        rule(
            "chassis:feed",
            "rule:admin_or_service",
            "Read a chassis' agent feed (its view snapshot and changes).",
        )
    ]
)

router = APIRouter(prefix="/v1", tags=["agent feed"])


@router.get("/chassis/{name}/feed/snapshot")
async def feed_snapshot(
    name: str,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("chassis:feed", ctx)
    snapshot = await runtime.feed.snapshot(name)
    return {"feed": snapshot.to_dict()}


@router.get("/chassis/{name}/feed")
async def feed_changes(
    name: str,
    since: int = Query(0, ge=0, description="The last sequence number the agent applied"),
    epoch: str | None = Query(None, max_length=64, description="The epoch that number is of"),
    wait: float = Query(0.0, ge=0, description="Seconds to hold the request while nothing new"),
    limit: int | None = Query(None, ge=1, description="Most changes to answer"),
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("chassis:feed", ctx)
    if wait != wait or wait == float("inf"):  # NaN or infinity
        raise InvalidInput("Invalid input for wait: a finite number of seconds is required.")
    page = await runtime.feed.changes(name, since, epoch, limit=limit, wait=wait)
    return {"feed": page.to_dict()}
