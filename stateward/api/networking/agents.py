"""Neutron's agents view (``/v2.0/agents``): each chassis' agent and its reported services.

``openstack network agent list|show|set --disable|delete`` tell liveness: ``alive`` is the
chassis' ``is_active`` (and, for a service, that it is running); ``heartbeat_timestamp`` is the
chassis' last report.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.body import is_bool, json_body, resource_body
from stateward.api.deps import get_project_context, get_runtime
from stateward.api.listing import list_response, parse_list_query, select_fields, to_bool
from stateward.domain.chassis import Chassis
from stateward.domain.errors import InvalidInput, NotFound
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

register(
    [
        rule("get_agent", "rule:admin_or_service"),
        rule("update_agent", "rule:admin"),
        rule("delete_agent", "rule:admin"),
    ]
)

router = APIRouter(prefix="/networking", tags=["networking"])

AGENT_BINARY = "stateward-agent"
AGENT_TYPE = "Stateward agent"
SERVICE_TYPE = "Stateward service"


def agent_id(chassis: str, binary: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stateward:agent:{chassis}:{binary}"))


def _neutron_ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def agents_of(c: Chassis, now: datetime, down_time: float) -> list[dict[str, Any]]:
    alive = c.is_active(now, down_time)
    common = {
        "host": c.name,
        "heartbeat_timestamp": _neutron_ts(c.heartbeat_at),
        "created_at": _neutron_ts(c.created_at),
        "started_at": _neutron_ts(c.created_at),
        "availability_zone": None,
        "topic": "N/A",
        "resources_synced": None,
        "description": None,
    }
    main = {
        "id": agent_id(c.name, AGENT_BINARY),
        "agent_type": AGENT_TYPE,
        "binary": AGENT_BINARY,
        "alive": alive,
        "admin_state_up": c.admin_state_up,
        "configurations": {
            "tunneling_ip": c.ip,
            "tunnel_types": list(c.tunnel_types),
            "report_interval": c.report_interval,
            "services": {k: v.state for k, v in sorted(c.service_status.items())},
        },
        **common,
    }
    out = [main]
    for name, status in sorted(c.service_status.items()):
        out.append(
            {
                "id": agent_id(c.name, name),
                "agent_type": SERVICE_TYPE,
                "binary": name,
                "alive": alive and status.state == "running",
                "admin_state_up": name not in c.disabled_agents,
                "configurations": status.to_dict(),
                **common,
            }
        )
    return out


FILTERS: dict[str, Callable[[str], Any]] = {
    "id": str,
    "host": str,
    "binary": str,
    "agent_type": str,
    "alive": to_bool,
    "admin_state_up": to_bool,
    "availability_zone": str,
    "topic": str,
    "description": str,
}


async def _all_agents(runtime: Runtime) -> list[dict[str, Any]]:
    now = runtime.liveness.now()
    agents = []
    for c in await runtime.liveness.list():
        agents.extend(agents_of(c, now, runtime.liveness.down_time))
    return agents


async def _find(runtime: Runtime, agent: str) -> dict[str, Any]:
    for item in await _all_agents(runtime):
        if item["id"] == agent:
            return item
    raise NotFound(f"Agent {agent} could not be found.", kind="AgentNotFound")


@router.get("/v2.0/agents")
async def list_agents(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_agent", ctx)
    query = parse_list_query(request, FILTERS)
    items = [
        a
        for a in await _all_agents(runtime)
        if all(a.get(k) in values for k, values in query.filters.items())
    ]
    if query.marker:
        ids = [a["id"] for a in items]
        items = items[ids.index(query.marker) + 1 :] if query.marker in ids else []
    if query.limit:
        items = items[: query.limit]
    return list_response(request, "agents", items, query)


@router.get("/v2.0/agents/{agent}")
async def show_agent(
    agent: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_agent", ctx)
    fields = [f for v in request.query_params.getlist("fields") for f in v.split(",") if f]
    return {"agent": select_fields(await _find(runtime, agent), fields)}


@router.put("/v2.0/agents/{agent}")
async def update_agent(
    agent: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    """Only ``admin_state_up`` (and ``description``, accepted and ignored) may change."""
    runtime.policy.enforce("update_agent", ctx)
    body = resource_body(await json_body(request), "agent")
    unknown = sorted(set(body) - {"admin_state_up", "description"})
    if unknown:
        raise InvalidInput(f"Cannot update read-only attribute(s) {', '.join(unknown)}")
    found = await _find(runtime, agent)
    if "admin_state_up" in body:
        up = is_bool("admin_state_up", body["admin_state_up"])
        binary = None if found["binary"] == AGENT_BINARY else found["binary"]
        await runtime.liveness.set_agent_admin_state(found["host"], binary, up)
    return {"agent": await _find(runtime, agent)}


@router.delete("/v2.0/agents/{agent}", status_code=204)
async def delete_agent(
    agent: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """Deleting a chassis' agent deletes the chassis (refused while it is alive, as Neutron)."""
    runtime.policy.enforce("delete_agent", ctx)
    found = await _find(runtime, agent)
    if found["binary"] != AGENT_BINARY:
        raise InvalidInput("Only a chassis' stateward-agent can be deleted")
    await runtime.liveness.delete(found["host"])
    return Response(status_code=204)
