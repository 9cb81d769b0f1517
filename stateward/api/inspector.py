"""Stateward's inspector API (Doctor): raw failures in, and each host's fault history out.

``PUT /v1/inspector/events`` takes Doctor's event list::

    [{"time": "...", "type": "compute.host.down",
      "details": {"hostname": "h1", "status": "down", "monitor": "m", "monitor_event_id": "e1"}}]

and answers once every state change is committed (the notifications follow from the outbox).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from stateward.api.body import json_body
from stateward.api.deps import get_context, get_runtime, target
from stateward.domain.compute import parse_raw_failures
from stateward.domain.errors import InvalidInput, NotFound
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime
from stateward.store.repositories.compute import FaultRecord

router = APIRouter(prefix="/v1", tags=["inspector"])

register(
    [
        rule(
            "inspector:events:create",
            "rule:admin_or_service",
            "Report raw failures (monitors).",
        ),
        rule("inspector:hosts:get", "rule:admin_or_service", "Read hosts' fault state."),
    ]
)


def fault_view(f: FaultRecord) -> dict[str, Any]:
    return {
        "id": f.id,
        "type": f.event_type,
        "monitor": f.monitor,
        "monitor_event_id": f.monitor_event_id,
        "time": f.reported_time,
        "received_at": f.received_at.isoformat(),
        "outcome": f.outcome,
        "servers_changed": f.servers_changed,
        "ports_changed": f.ports_changed,
        "trace_id": f.trace_id,
    }


@router.put("/inspector/events")
@router.post("/inspector/events", include_in_schema=False)
async def report_events(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("inspector:events:create", ctx, target(ctx.project_id))
    payload = await json_body(request)
    if isinstance(payload, dict) and "events" in payload and len(payload) == 1:
        payload = payload["events"]
    try:
        failures = parse_raw_failures(payload)
    except ValueError as exc:
        raise InvalidInput(f"Invalid event: {exc}")
    if not runtime.settings.inspector.enabled:
        raise InvalidInput("The inspector is disabled ([inspector] enabled = false).")
    outcomes = await runtime.inspector.report(failures)
    return {"events": [o.to_dict() for o in outcomes]}


async def _host(runtime: Runtime, host: str, limit: int) -> dict[str, Any]:
    service = await runtime.compute.service(host)
    faults = await runtime.inspector.history(host, limit)
    if service is None and not faults:
        raise NotFound(f"Host {host} could not be found.")
    index = runtime.inspector.index
    return {
        "name": host,
        "known": service is not None,
        "state": service.state if service else None,
        "status": service.status if service else None,
        "forced_down": service.forced_down if service else None,
        "disabled_reason": service.disabled_reason if service else None,
        "host_status": service.host_status if service else None,
        "chassis_alive": service.alive if service else None,
        "servers": len(index.server_ids(host)),
        "ports": len(index.port_ids(host)),
        "faults": [fault_view(f) for f in faults],
    }


@router.get("/hosts")
async def list_hosts(
    ctx: AuthContext = Depends(get_context), runtime: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    runtime.policy.enforce("inspector:hosts:get", ctx, target(ctx.project_id))
    hosts = [await _host(runtime, h, 1) for h in await runtime.inspector.known_hosts()]
    for h in hosts:
        h["last_fault"] = h.pop("faults")[0] if h["faults"] else None
    return {"hosts": hosts}


@router.get("/hosts/{host}")
async def show_host(
    host: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("inspector:hosts:get", ctx, target(ctx.project_id))
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        raise InvalidInput("limit must be an integer")
    return {"host": await _host(runtime, host, max(1, min(limit, 1000)))}
