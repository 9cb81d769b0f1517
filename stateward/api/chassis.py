"""Stateward's /v1/chassis: registration and heartbeats (agents), list/show/delete (operators)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stateward.api.body import json_body, resource_body
from stateward.api.deps import get_context, get_runtime
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime
from stateward.services.liveness import chassis_view

register(
    [
        rule("chassis:register", "rule:admin_or_service", "Register or refresh a chassis."),
        rule("chassis:heartbeat", "rule:admin_or_service", "Report a chassis' liveness."),
        rule("chassis:get", "rule:admin_or_service", "List and show chassis."),
        rule("chassis:delete", "rule:admin", "Delete a chassis."),
        rule("chassis:clean_stale", "rule:admin", "Delete every down chassis silent too long."),
    ]
)

router = APIRouter(prefix="/v1", tags=["chassis"])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"


class ServiceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field("unknown", pattern="^(running|stopped|failed|unknown)$")
    pid: int | None = None
    since: str | None = None
    detail: str = Field("", max_length=1024)


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip: str
    tunnel_types: list[str] | None = Field(None, max_length=8)
    external_ids: dict[str, str] | None = None
    report_interval: float | None = Field(None, gt=0)
    services: dict[str, ServiceBody] | None = None

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @field_validator("tunnel_types")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if item not in ("geneve", "vxlan", "gre"):
                raise ValueError(f"unknown tunnel type {item!r} (geneve, vxlan, gre)")
        return value


class HeartbeatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    services: dict[str, ServiceBody] | None = None


def _parse(model: type[BaseModel], data: Any, prefix: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        raise InvalidInput(f"Invalid input for {loc}: {err['msg']}") from None


def _name(name: str) -> str:
    import re

    if not re.match(NAME_PATTERN, name):
        raise InvalidInput(f"Invalid chassis name {name!r}")
    return name


@router.get("/chassis")
async def list_chassis(
    status: str | None = None,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("chassis:get", ctx)
    if status not in (None, "active", "down"):
        raise InvalidInput("status must be active or down")
    now = runtime.liveness.now()
    items = await runtime.liveness.list(status)
    return {"chassis": [chassis_view(c, now, runtime.liveness.down_time) for c in items]}


@router.post("/chassis/clean-stale")
async def clean_stale(
    older_than: float = Query(0, ge=0, le=10**10, description="Silent for longer than (s)"),
    dry_run: bool = False,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    """Delete (or with ``dry_run`` only list) every down chassis silent for ``older_than`` s;
    an active chassis is never touched."""
    runtime.policy.enforce("chassis:clean_stale", ctx)
    now = runtime.liveness.now()
    stale = await runtime.liveness.clean_stale(older_than, dry_run=dry_run)
    return {"chassis": [chassis_view(c, now, runtime.liveness.down_time) for c in stale]}


@router.get("/chassis/{name}")
async def show_chassis(
    name: str, ctx: AuthContext = Depends(get_context), runtime: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    runtime.policy.enforce("chassis:get", ctx)
    chassis = await runtime.liveness.get(name)
    return {"chassis": chassis_view(chassis, runtime.liveness.now(), runtime.liveness.down_time)}


@router.put("/chassis/{name}")
async def register_chassis(
    name: str,
    request: Request,
    response: Response,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    """An agent registers (or re-registers) its chassis and learns its report interval."""
    runtime.policy.enforce("chassis:register", ctx)
    body: RegisterBody = _parse(
        RegisterBody, resource_body(await json_body(request), "chassis"), "chassis"
    )
    chassis, created, interval = await runtime.liveness.register(
        _name(name),
        body.ip,
        tunnel_types=body.tunnel_types,
        external_ids=body.external_ids,
        report_interval=body.report_interval,
        services={k: v.model_dump() for k, v in body.services.items()}
        if body.services is not None
        else None,
    )
    response.status_code = 201 if created else 200
    return {
        "chassis": chassis_view(chassis, runtime.liveness.now(), runtime.liveness.down_time),
        "report_interval": interval,
        "chassis_down_time": runtime.liveness.down_time,
    }


@router.post("/chassis/{name}/heartbeat", status_code=204)
async def heartbeat(
    name: str,
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("chassis:heartbeat", ctx)
    raw = await request.body()
    body: HeartbeatBody = _parse(HeartbeatBody, await json_body(request) if raw else {}, "")
    services = (
        {k: v.model_dump() for k, v in body.services.items()} if body.services is not None else None
    )
    await runtime.liveness.report(name, services)
    return Response(status_code=204)


@router.delete("/chassis/{name}", status_code=204)
async def delete_chassis(
    name: str,
    force: bool = False,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """Delete a chassis; an active one only with ``?force=true`` (409 otherwise)."""
    runtime.policy.enforce("chassis:delete", ctx)
    await runtime.liveness.delete(name, force=force)
    return Response(status_code=204)
