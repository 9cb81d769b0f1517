"""Operational endpoints: liveness and readiness, Prometheus metrics, Stateward's /v1 root."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stateward import __version__
from stateward.api.deps import get_runtime
from stateward.runtime import Runtime

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
    """200 when the store answers; 503 otherwise (for load balancers and supervisors)."""
    try:
        async with runtime.store.uow(readonly=True) as uow:
            await uow.conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok", "process": runtime.process_id, "version": __version__})


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1")
async def v1_root() -> dict[str, Any]:
    return {"version": {"id": "v1", "status": "CURRENT", "stateward": __version__}}
