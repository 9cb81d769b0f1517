"""Aodh's quota API at ``/v2/quotas``: a project's alarm limit (``openstack alarm quota``).

The limit lives in the one quota engine; its default is Aodh's ``project_alarm_quota``
(``[quotas] project_alarm_quota``, unlimited when unset) and a user's is
``user_alarm_quota``. Creating an alarm beyond it answers Aodh's 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from stateward.api.body import json_body
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/v2/quotas", tags=["alarming"])

register(
    [
        rule("telemetry:get_quotas", "rule:admin_or_reader", "Show a project's alarm quota."),
        rule("telemetry:update_quotas", "rule:admin", "Set a project's alarm quota."),
    ]
)


def _view(project_id: str, limits: dict[str, int]) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "quotas": [{"resource": name, "limit": limit} for name, limit in sorted(limits.items())],
    }


@router.get("")
async def show(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    project = request.query_params.get("project_id") or ctx.project_id
    assert project is not None
    runtime.policy.enforce("telemetry:get_quotas", ctx, target(project))
    return _view(project, await runtime.quotas.limits("alarming", project))


@router.post("", status_code=201)
async def update(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    payload = await json_body(request)
    if not isinstance(payload, dict) or set(payload) - {"project_id", "quotas"}:
        raise InvalidInput("Invalid input: expected {project_id, quotas: [{resource, limit}]}")
    project = payload.get("project_id")
    quotas = payload.get("quotas")
    if not isinstance(project, str) or not 1 <= len(project) <= 255:
        raise InvalidInput("Invalid input for field/attribute project_id.")
    if not isinstance(quotas, list) or not all(
        isinstance(q, dict) and set(q) == {"resource", "limit"} for q in quotas
    ):
        raise InvalidInput("Invalid input for field/attribute quotas.")
    runtime.policy.enforce("telemetry:update_quotas", ctx, target(project))
    values = runtime.quotas.parse("alarming", {q["resource"]: q["limit"] for q in quotas})
    limits = await runtime.quotas.update("alarming", project, values, force=True)
    return _view(project, limits)
