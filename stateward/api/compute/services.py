"""Nova's os-services: list the hosts' nova-compute services, enable/disable, force down.

Forcing a host down moves its servers to the fault state (``[compute] host_down_server_state``).
Before 2.53 the service is addressed by host and binary (``PUT /os-services/force-down``); from
2.53 by its uuid.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from stateward.api.compute.common import bad as _bad
from stateward.api.compute.common import body as _body
from stateward.api.compute.common import usec_ts as _usec_ts
from stateward.api.compute.versions import Microversion, requested_microversion
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain import compute as rules
from stateward.domain.compute import ComputeServiceView
from stateward.domain.errors import NotFound
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:os-services:list", "rule:admin", "List compute services."),
        rule(
            "os_compute_api:os-services:update",
            "rule:admin",
            "Enable, disable, force down a compute service (forcing down moves its servers).",
        ),
    ]
)


def service_view(v: ComputeServiceView, mv: Microversion) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": v.id if mv.at_least("2.53") else rules.service_int_id(v.host),
        "binary": rules.COMPUTE_BINARY,
        "host": v.host,
        "zone": "nova",
        "status": v.status,
        "state": v.state,
        "updated_at": _usec_ts(v.updated_at),
        "disabled_reason": v.disabled_reason,
    }
    if mv.at_least("2.11"):
        d["forced_down"] = v.forced_down
    return d


@router.get("/os-services")
async def list_services(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-services:list", ctx, target(ctx.project_id))
    params = request.query_params
    views = await runtime.compute.list_services(params.get("host"), params.get("binary"))
    return {"services": [service_view(v, mv) for v in views]}


def _host_binary(body: dict[str, Any], extra: tuple[str, ...] = ()) -> tuple[str, str]:
    allowed = {"host", "binary", *extra}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    for key in ("host", "binary"):
        value = body.get(key)
        if not isinstance(value, str) or not value or len(value) > 255:
            raise _bad(f"Invalid input for field/attribute {key}. '{key}' is a required property")
    return body["host"], body["binary"]


LEGACY_ACTIONS = ("enable", "disable", "disable-log-reason", "force-down")


async def _legacy_service(runtime: Runtime, host: str, binary: str) -> ComputeServiceView:
    view = await runtime.compute.service(host) if binary == rules.COMPUTE_BINARY else None
    if view is None:
        raise NotFound(f"Service {binary} on host {host} could not be found.")
    return view


@router.put("/os-services/{service_id}")
async def update_service(
    service_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    mv = requested_microversion(request)
    runtime.policy.enforce("os_compute_api:os-services:update", ctx, target(ctx.project_id))
    body = await _body(request)
    if not isinstance(body, dict):
        raise _bad("Invalid input: the body must be an object.")
    if not mv.at_least("2.53"):
        return await _legacy_update(runtime, mv, service_id, body)
    if service_id in LEGACY_ACTIONS:
        raise NotFound(f"The {service_id} action is not available from microversion 2.53.")
    try:
        service_id = str(uuid.UUID(service_id))
    except ValueError:
        raise _bad(f"Invalid uuid {service_id}")
    unknown = sorted(set(body) - {"status", "disabled_reason", "forced_down"})
    if unknown:
        raise _bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    status = body.get("status")
    reason = body.get("disabled_reason")
    forced = body.get("forced_down")
    if "status" in body and status not in ("enabled", "disabled"):
        raise _bad(
            f"Invalid input for field/attribute status. Value: {status}. "
            f"'{status}' is not one of ['enabled', 'disabled']"
        )
    if "disabled_reason" in body and (not isinstance(reason, str) or not 1 <= len(reason) <= 255):
        raise _bad("Invalid input for field/attribute disabled_reason: a 1-255 character string")
    if "forced_down" in body and not isinstance(forced, bool):
        raise _bad(
            f"Invalid input for field/attribute forced_down. Value: {forced}. "
            f"{forced!r} is not of type 'boolean'"
        )
    if "status" not in body and "forced_down" not in body:
        raise _bad(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified."
        )
    if reason is not None and status != "disabled":
        raise _bad("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    view = await runtime.compute.service_by_id(service_id)
    updated, _ = await runtime.compute.update_service(
        view.host, status=status, disabled_reason=reason, forced_down=forced
    )
    return {"service": service_view(updated, mv)}


async def _legacy_update(
    runtime: Runtime, mv: Microversion, action: str, body: dict[str, Any]
) -> dict[str, Any]:
    if action == "force-down" and mv.at_least("2.11"):
        host, binary = _host_binary(body, ("forced_down",))
        forced = body.get("forced_down")
        if not isinstance(forced, bool):
            raise _bad("Invalid input for field/attribute forced_down. Value must be a boolean.")
        await _legacy_service(runtime, host, binary)
        await runtime.compute.update_service(host, forced_down=forced)
        return {"service": {"host": host, "binary": binary, "forced_down": forced}}
    if action in ("enable", "disable"):
        host, binary = _host_binary(body)
        await _legacy_service(runtime, host, binary)
        status = f"{action}d"
        await runtime.compute.update_service(host, status=status)
        return {"service": {"host": host, "binary": binary, "status": status}}
    if action == "disable-log-reason":
        host, binary = _host_binary(body, ("disabled_reason",))
        reason = body.get("disabled_reason")
        if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
            raise _bad("Missing disabled reason field")
        await _legacy_service(runtime, host, binary)
        await runtime.compute.update_service(host, status="disabled", disabled_reason=reason)
        return {
            "service": {
                "host": host,
                "binary": binary,
                "status": "disabled",
                "disabled_reason": reason,
            }
        }
    raise NotFound("Unknown action")
