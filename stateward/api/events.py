"""``POST /v1/events``: publish a notification through the outbox (admin or service only).

For Doctor-style injection (a monitor or inspector emitting ``compute.instance.update`` with
``state=error`` directly, the "shortcut") and for tests. The envelope is written to the outbox
in one transaction and relayed to the bus, exactly like the notifications Stateward emits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from stateward.api.body import json_body
from stateward.api.deps import get_context, get_runtime
from stateward.domain.errors import InvalidInput
from stateward.domain.events import Envelope, TraceContext
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["events"])

register([rule("events:publish", "rule:admin_or_service", "Publish a notification.")])

FIELDS = {
    "event_type",
    "traits",
    "payload",
    "project_id",
    "resource_id",
    "priority",
    "message_id",
    "publisher_id",
    "generated",
    "trace",
}


def parse_event(body: Any) -> Envelope:
    if not isinstance(body, dict):
        raise InvalidInput("Invalid input: the body must be an event object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidInput(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 255:
        raise InvalidInput("Invalid input for event_type: a non-empty string is required")
    if any(c in event_type for c in " *>"):
        raise InvalidInput("Invalid input for event_type: no spaces or wildcards")
    traits = body.get("traits") or {}
    if not isinstance(traits, dict):
        raise InvalidInput("Invalid input for traits: must be an object")
    for key, value in traits.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInput(f"Invalid input for traits.{key}: traits are flat scalars")
    payload = body.get("payload") or {}
    if not isinstance(payload, dict):
        raise InvalidInput("Invalid input for payload: must be an object")
    kwargs: dict[str, Any] = {}
    for key in ("project_id", "resource_id", "message_id", "publisher_id", "priority"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, str) or len(value) > 255:
                raise InvalidInput(f"Invalid input for {key}: must be a string")
            kwargs[key] = value
    if body.get("generated"):
        try:
            generated = datetime.fromisoformat(str(body["generated"]).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("Invalid input for generated: not an ISO 8601 time")
        kwargs["generated"] = generated if generated.tzinfo else generated.replace(tzinfo=UTC)
    trace = body.get("trace")
    if trace is not None:
        if not isinstance(trace, dict):
            raise InvalidInput("Invalid input for trace: must be an object")
        kwargs["trace"] = TraceContext.from_dict(trace)
    kwargs.setdefault("publisher_id", "api.stateward")
    if "project_id" in kwargs:
        traits.setdefault("tenant_id", kwargs["project_id"])
        traits.setdefault("project_id", kwargs["project_id"])
    return Envelope(event_type=event_type, traits=traits, payload=payload, **kwargs)


@router.post("/events", status_code=202)
async def publish_event(
    request: Request,
    ctx: AuthContext = Depends(get_context),
    runtime: Runtime = Depends(get_runtime),
) -> JSONResponse:
    runtime.policy.enforce("events:publish", ctx)
    envelope = parse_event(await json_body(request))
    async with runtime.store.uow() as uow:
        uow.emit(envelope)
        await uow.commit()
    return JSONResponse({"message_id": envelope.message_id}, status_code=202)
