"""Stateward's /v1/journal: the SDN journal's status, rows and operator actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from stateward.api.deps import get_context, get_runtime, target
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.domain.journal import RowState
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/v1/journal", tags=["journal"])

register(
    [
        rule("journal:status", "rule:admin_or_service", "Journal and controller connection state"),
        rule("journal:list", "rule:admin_or_service", "List and show journal rows"),
        rule("journal:retry", "rule:admin", "Put a failed journal row back to pending"),
        rule("journal:cleanup", "rule:admin", "Delete completed rows, reset stuck ones"),
        rule("journal:full_sync", "rule:admin", "Ask maintenance for a full sync now"),
    ]
)


@router.get("/status")
async def status(
    ctx: AuthContext = Depends(get_context), runtime: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    runtime.policy.enforce("journal:status", ctx, target(ctx.project_id))
    return {"journal": await runtime.journal.status()}


@router.get("/rows")
async def list_rows(
    state: str | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    after: int | None = Query(None, ge=0),
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("journal:list", ctx, target(ctx.project_id))
    wanted = None
    if state is not None:
        try:
            wanted = RowState(state)
        except ValueError:
            raise InvalidInput(
                f"Invalid state {state!r}: one of {', '.join(s.value for s in RowState)}"
            )
    rows = await runtime.journal.rows(state=wanted, limit=limit, after=after)
    return {"rows": [r.view() for r in rows]}


@router.get("/rows/{seqnum}")
async def show_row(
    seqnum: int, ctx: AuthContext = Depends(get_context), runtime: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    runtime.policy.enforce("journal:list", ctx, target(ctx.project_id))
    return {"row": await runtime.journal.show(seqnum)}


@router.post("/rows/{seqnum}/retry")
async def retry_row(
    seqnum: int, ctx: AuthContext = Depends(get_context), runtime: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    runtime.policy.enforce("journal:retry", ctx, target(ctx.project_id))
    return {"row": await runtime.journal.retry(seqnum)}


@router.post("/cleanup")
async def cleanup(
    older_than: float | None = Query(
        None, ge=0, le=10**9, description="Delete completed rows older than this (s)"
    ),
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("journal:cleanup", ctx, target(ctx.project_id))
    return {"cleanup": await runtime.journal.cleanup(older_than)}


@router.post("/full-sync", status_code=202)
async def full_sync(
    ctx: AuthContext = Depends(get_context), runtime: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    runtime.policy.enforce("journal:full_sync", ctx, target(ctx.project_id))
    return await runtime.journal.request_full_sync()
