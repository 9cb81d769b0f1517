"""Aodh v2 alarm API at the root (``/v2/alarms``, ``/v2/query/alarms``), as aodhclient and the
``openstack alarm`` commands use it. Only ``event`` alarms (alias ``notification``, the seed's
name) are evaluated here; other Aodh types are refused with a 400 naming the type.

Errors under ``/v2`` get Aodh's shape (``{"error_message": {"faultstring": ...}}``) from
``api/errors.py``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from stateward.api.body import json_body
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain.alarm import (
    EVENT,
    SEVERITIES,
    STATES,
    Alarm,
    EventRule,
    default_description,
    parse_event_rule,
    to_bool,
)
from stateward.domain.errors import InvalidInput, NotAuthenticated, NotFound
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime
from stateward.services.alarm_notifier import DestinationPolicy
from stateward.services.alarms import Actor, alarm_view, history_view

router = APIRouter(tags=["alarming"])

register(
    [
        rule("telemetry:create_alarm", "rule:admin_or_member", "Create an alarm."),
        rule("telemetry:get_alarm", "rule:admin_or_reader", "Show an alarm."),
        rule("telemetry:get_alarms", "rule:admin_or_reader", "List alarms."),
        rule("telemetry:query_alarm", "rule:admin_or_reader", "Query alarms."),
        rule("telemetry:change_alarm", "rule:admin_or_member", "Update an alarm."),
        rule("telemetry:delete_alarm", "rule:admin_or_member", "Delete an alarm."),
        rule("telemetry:get_alarm_state", "rule:admin_or_reader", "Get an alarm's state."),
        rule("telemetry:change_alarm_state", "rule:admin_or_member", "Set an alarm's state."),
        rule("telemetry:alarm_history", "rule:admin_or_reader", "An alarm's history."),
    ]
)

# Aodh's other alarm types: known, but not evaluated by this server.
OTHER_TYPES = (
    "threshold",
    "combination",
    "composite",
    "prometheus",
    "gnocchi_resources_threshold",
    "gnocchi_aggregation_by_metrics_threshold",
    "gnocchi_aggregation_by_resources_threshold",
    "loadbalancer_member_health",
)
WRITABLE = {
    "name",
    "description",
    "type",
    "enabled",
    "severity",
    "state",
    "alarm_actions",
    "ok_actions",
    "insufficient_data_actions",
    "repeat_actions",
    "time_constraints",
    "project_id",
    "user_id",
    "event_rule",
    "notification_rule",
    "resource_id",
}
# Returned by GET; accepted back (and ignored) on POST/PUT, as Aodh does.
READ_ONLY = {"alarm_id", "timestamp", "state_timestamp", "state_reason"}
OTHER_RULES = {f"{t}_rule" for t in OTHER_TYPES}


# --- body parsing -------------------------------------------------------------------------


def _string(name: str, value: Any, *, max_len: int = 255, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(
            f"Invalid input for field/attribute {name}. Value: {value!r}. "
            "Wrong type, expected a string."
        )
    if len(value) > max_len or (not empty and not value.strip()):
        raise InvalidInput(
            f"Invalid input for field/attribute {name}. Value: {value!r}. "
            f"Must be 1 to {max_len} characters."
        )
    return value


def _boolean(name: str, value: Any) -> bool:
    try:
        if isinstance(value, bool | str):
            return to_bool(value)
    except ValueError:
        pass
    raise InvalidInput(
        f"Invalid input for field/attribute {name}. Value: {value!r}. Wrong type, "
        "expected a boolean."
    )


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidInput(
            f"Invalid input for field/attribute {name}. Value: {value!r}. Value should be one "
            f"of: {', '.join(choices)}"
        )
    return str(value)


def _actions(
    name: str, value: Any, ctx: AuthContext, destinations: DestinationPolicy
) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(
            f"Invalid input for field/attribute {name}. Value: {value!r}. "
            "Wrong type, expected a list of URLs."
        )
    result: list[str] = []
    for action in value:
        if not isinstance(action, str):
            raise InvalidInput(f"Unable to parse action {action!r}")
        try:
            url = urlsplit(action)
        except ValueError:
            raise InvalidInput(f"Unable to parse action {action}")
        if url.scheme not in ("http", "https", "log"):
            raise InvalidInput(f"Unsupported action {action}")
        if url.scheme == "log" and not ctx.is_admin:
            raise NotAuthenticated(f"You are not authorized to create action: {action}")
        if url.scheme in ("http", "https"):
            if not url.hostname:
                raise InvalidInput(f"Unable to parse action {action}: no host")
            if destinations.literal_verdict(url.hostname) is False:
                raise InvalidInput(
                    f"Action {action} is not an allowed destination (alarms.action_allow)"
                )
        if action not in result:
            result.append(action)
    return tuple(result)


def _time_constraints(value: Any) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput("Invalid input for field/attribute time_constraints: expected a list")
    result = []
    for tc in value:
        if not isinstance(tc, dict) or not tc.get("name") or not tc.get("start"):
            raise InvalidInput(
                "Invalid input for field/attribute time_constraints: each needs name, start "
                "(cron) and duration (seconds)"
            )
        unknown = set(tc) - {"name", "description", "start", "duration", "timezone"}
        if unknown:
            raise InvalidInput(
                f"Invalid input for time_constraints: unknown key(s) {', '.join(sorted(unknown))}"
            )
        try:
            duration = int(tc.get("duration"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInput("Invalid input for time_constraints.duration: not an integer")
        if duration < 0:
            raise InvalidInput("Invalid input for time_constraints.duration: must be >= 0")
        item = {
            "name": str(tc["name"]),
            "description": str(
                tc.get("description")
                or f"Time constraint at {tc['start']} lasting for {duration} seconds"
            ),
            "start": str(tc["start"]),
            "duration": duration,
            "timezone": str(tc.get("timezone") or ""),
        }
        result.append(item)
    names = [tc["name"] for tc in result]
    if len(names) != len(set(names)):
        raise InvalidInput("Time constraint names must be unique for a given alarm.")
    return tuple(result)


def parse_alarm(
    body: Any, ctx: AuthContext, runtime: Runtime, existing: Alarm | None = None
) -> Alarm:
    """An alarm from a POST body, or from a PUT body on top of ``existing``."""
    if not isinstance(body, dict):
        raise InvalidInput("Invalid input: the request body must be a JSON object (an alarm)")
    for key in body:
        if key in WRITABLE or key in READ_ONLY:
            continue
        if key in OTHER_RULES:
            if body[key] in (None, {}, []) or body.get("type") in OTHER_TYPES:
                continue
            raise InvalidInput(
                f"{key} cannot be set on an event alarm: this server evaluates event alarms "
                "(type event, alias notification) only"
            )
        raise InvalidInput(f"Unknown attribute for argument data: {key}")
    get = body.get
    if existing is not None and get("alarm_id") not in (None, existing.alarm_id):
        raise InvalidInput(f"alarm_id {get('alarm_id')} does not match the URL")

    raw_type = get("type", existing.type if existing else None)
    if raw_type is None:
        raise InvalidInput("Invalid input for field/attribute type. Mandatory field missing.")
    if raw_type in OTHER_TYPES:
        raise InvalidInput(
            f"Alarm type {raw_type} is not supported by this server: only event alarms "
            "(type event, alias notification) are evaluated here"
        )
    _choice("type", raw_type, ("event", "notification"))

    event_rule, notification_rule = get("event_rule"), get("notification_rule")
    if event_rule is not None and notification_rule is not None:
        raise InvalidInput("event_rule and notification_rule cannot be set at the same time")
    raw_rule = event_rule if event_rule is not None else notification_rule
    if raw_rule is None:
        if existing is None:
            raise InvalidInput(f"{raw_type}_rule must be set for {raw_type} type alarm")
        rule_obj: EventRule = existing.rule
    else:
        rule_obj = parse_event_rule(
            raw_rule, "event_rule" if event_rule is not None else "notification_rule"
        )

    if "name" in body:
        name = _string("name", get("name"), empty=False)
    elif existing is not None:
        name = existing.name
    else:
        raise InvalidInput("Invalid input for field/attribute name. Mandatory field missing.")

    description = get("description")
    if description is not None:
        description = _string("description", description, max_len=65535)
    if not description:
        description = existing.description if existing and "description" not in body else ""
    if not description:
        description = default_description(rule_obj)

    def pick(key: str, convert: Callable[[str, Any], Any], default: Any) -> Any:
        if key in body and body[key] is not None:
            return convert(key, body[key])
        return getattr(existing, key) if existing is not None else default

    enabled = pick("enabled", _boolean, True)
    repeat = pick("repeat_actions", _boolean, False)
    severity = pick("severity", lambda n, v: _choice(n, v, SEVERITIES), "low")
    state = pick("state", lambda n, v: _choice(n, v, STATES), "insufficient data")
    destinations = DestinationPolicy.from_config(runtime.settings.alarms)
    actions = {
        key: pick(key, lambda n, v: _actions(n, v, ctx, destinations), ())
        for key in ("alarm_actions", "ok_actions", "insufficient_data_actions")
    }
    time_constraints = pick("time_constraints", lambda _n, v: _time_constraints(v), ())
    resource_id = pick("resource_id", lambda n, v: _string(n, v) or None, None)
    if "resource_id" in body and body["resource_id"] is None:
        resource_id = None
    if runtime.settings.alarms.require_resource_id and not resource_id:
        raise InvalidInput(
            "resource_id is required for event alarms on this server (alarms.require_resource_id)"
        )

    assert ctx.project_id is not None
    current_project = existing.project_id if existing else ctx.project_id
    current_user = existing.user_id if existing else ctx.user_id
    project_id = get("project_id") or current_project
    user_id = get("user_id") or current_user
    if not ctx.is_admin:
        if project_id != current_project:
            raise NotAuthenticated(f"Not Authorized to access project {project_id}")
        if user_id not in (current_user, ctx.user_id):
            raise NotAuthenticated(f"Not Authorized to access user {user_id}")
    _string("project_id", project_id, max_len=64)
    _string("user_id", user_id, max_len=64)
    if existing is None or project_id != existing.project_id:
        admin = ctx.is_admin and project_id == ctx.project_id
    else:
        admin = existing.admin

    return Alarm(
        alarm_id=existing.alarm_id if existing else str(uuid.uuid4()),
        name=name,
        project_id=project_id,
        user_id=user_id,
        rule=rule_obj,
        description=description,
        type=EVENT,
        enabled=enabled,
        severity=severity,
        state=state,
        state_reason=existing.state_reason if existing else "Not evaluated yet",
        state_timestamp=existing.state_timestamp if existing else None,
        timestamp=existing.timestamp if existing else None,
        alarm_actions=actions["alarm_actions"],
        ok_actions=actions["ok_actions"],
        insufficient_data_actions=actions["insufficient_data_actions"],
        repeat_actions=repeat,
        time_constraints=time_constraints,
        resource_id=resource_id,
        admin=admin,
        generation=existing.generation if existing else 0,
    )


# --- simple (q.*) and complex (POST /v2/query/alarms) queries ---------------------------

SIMPLE_FIELDS = (
    "alarm_id",
    "name",
    "type",
    "state",
    "severity",
    "enabled",
    "repeat_actions",
    "user_id",
    "project_id",
    "resource_id",
    "description",
)
QUERY_FIELDS = (*SIMPLE_FIELDS, "timestamp", "state_timestamp", "state_reason")
SIMPLE_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
COMPLEX_OPS = {
    "=": "eq",
    "==": "eq",
    "eq": "eq",
    "!=": "ne",
    "ne": "ne",
    "<": "lt",
    "lt": "lt",
    "<=": "le",
    "=<": "le",
    "le": "le",
    ">": "gt",
    "gt": "gt",
    ">=": "ge",
    "=>": "ge",
    "ge": "ge",
}


def _coerce(field_value: Any, value: Any) -> Any:
    """Bring a query value to the field's type (booleans and strings from the CLI parser)."""
    if isinstance(field_value, bool):
        return to_bool(value)
    if isinstance(field_value, str) and not isinstance(value, str):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return value


def _compare(view: Mapping[str, Any], fld: str, op: str, value: Any) -> bool:
    actual = view.get(fld)
    if actual is None:
        return op == "ne" and value is not None
    try:
        return bool(SIMPLE_OPS[op](actual, _coerce(actual, value)))
    except (TypeError, ValueError):
        return False


def _complex_filter(
    expr: Any, fields: tuple[str, ...] = QUERY_FIELDS
) -> Callable[[Mapping[str, Any]], bool]:
    if not isinstance(expr, dict) or len(expr) != 1:
        raise InvalidInput(f"Filter expression not valid: {json.dumps(expr)}")
    ((op, operand),) = expr.items()
    key = op.lower()
    if key in ("and", "or"):
        if not isinstance(operand, list) or not operand:
            raise InvalidInput(f"Filter expression not valid: {key} needs a list")
        parts = [_complex_filter(p, fields) for p in operand]
        if key == "and":
            return lambda v: all(p(v) for p in parts)
        return lambda v: any(p(v) for p in parts)
    if key == "not":
        inner = _complex_filter(operand, fields)
        return lambda v: not inner(v)
    if not isinstance(operand, dict) or len(operand) != 1:
        raise InvalidInput(f"Filter expression not valid: {json.dumps(expr)}")
    ((fld, value),) = operand.items()
    if fld not in fields:
        raise InvalidInput(
            f"Unknown field {fld!r} in the filter; valid fields: {', '.join(fields)}"
        )
    if key == "in":
        if not isinstance(value, list):
            raise InvalidInput("Filter expression not valid: in needs a list")
        return lambda v: any(_compare(v, fld, "eq", x) for x in value)
    if key == "=~":
        try:
            pattern = re.compile(str(value))
        except re.error as exc:
            raise InvalidInput(f"Filter expression not valid: bad regular expression: {exc}")
        return lambda v: isinstance(v.get(fld), str) and bool(pattern.search(v[fld]))
    if key not in COMPLEX_OPS:
        raise InvalidInput(f"Filter expression not valid: operator {op!r} is not supported")
    simple = COMPLEX_OPS[key]
    return lambda v: _compare(v, fld, simple, value)


def _json_arg(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidInput(f"{what} is not valid JSON: {value}")
    return value


def _sorted(views: list[dict[str, Any]], orderby: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    for fld, descending in reversed(orderby):
        views.sort(
            key=lambda v: (v.get(fld) is None, "" if v.get(fld) is None else v[fld]),
            reverse=descending,
        )
    return views


# --- routes -----------------------------------------------------------------------------


def _actor(ctx: AuthContext) -> Actor:
    return Actor(user_id=ctx.user_id, project_id=ctx.project_id)


async def _visible_alarm(runtime: Runtime, ctx: AuthContext, alarm_id: str) -> Alarm:
    try:
        alarm = await runtime.alarms.get(alarm_id)
    except NotFound:
        alarm = None
    if alarm is None or (not ctx.is_admin and alarm.project_id != ctx.project_id):
        if ctx.is_admin:
            raise NotFound(f"Alarm {alarm_id} not found")
        raise NotFound(f"Alarm {alarm_id} not found in project {ctx.project_id}")
    return alarm


@router.get("/v2/capabilities")
@router.get("/v2/capabilities/", include_in_schema=False)
async def capabilities(ctx: AuthContext = Depends(get_project_context)) -> dict[str, Any]:
    """What ``openstack alarming capabilities list`` shows."""
    return {
        "api": {
            "alarms:query:simple": True,
            "alarms:query:complex": True,
            "alarms:history:query:simple": False,
            "alarms:history:query:complex": True,
        },
        "alarm_storage": {"storage:production_ready": True},
    }


@router.get("/v2/alarms")
async def list_alarms(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> list[dict[str, Any]]:
    runtime.policy.enforce("telemetry:get_alarms", ctx, target(ctx.project_id))
    params = request.query_params
    fields, ops, values, types = (
        params.getlist("q.field"),
        params.getlist("q.op"),
        params.getlist("q.value"),
        params.getlist("q.type"),
    )
    if len(values) != len(fields):
        raise InvalidInput("Invalid query: every q.field needs a q.value")
    conditions: list[tuple[str, str, Any]] = []
    all_projects = False
    for i, fld in enumerate(fields):
        op = ops[i] if i < len(ops) and ops[i] else "eq"
        if op not in SIMPLE_OPS:
            raise InvalidInput(f"Invalid input for field/attribute op. Value: {op!r}.")
        value: Any = values[i]
        vtype = types[i] if i < len(types) else ""
        if fld == "all_projects":
            all_projects = _boolean("all_projects", value)
            continue
        if fld not in SIMPLE_FIELDS:
            raise InvalidInput(
                f'Unknown argument: "q.field": unrecognized field in query: {fld}, '
                f"valid keys: {', '.join(sorted((*SIMPLE_FIELDS, 'all_projects')))}"
            )
        if vtype in ("integer", "float"):
            try:
                value = int(value) if vtype == "integer" else float(value)
            except ValueError:
                raise InvalidInput(
                    f"Unable to convert the value {value} to the expected data type {vtype}."
                )
        conditions.append((fld, op, value))
    if all_projects and not ctx.is_admin:
        raise NotAuthenticated("Not Authorized to access all projects")
    project = None if (ctx.is_admin and all_projects) else ctx.project_id
    if any(f == "project_id" and o == "eq" for f, o, _ in conditions) and ctx.is_admin:
        project = None
    views = [alarm_view(a) for a in await runtime.alarms.find(project)]
    views = [v for v in views if all(_compare(v, f, o, x) for f, o, x in conditions)]
    views = _paged(request, views, "alarm_id", QUERY_FIELDS)
    return views


@router.post("/v2/query/alarms")
async def query_alarms(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> list[dict[str, Any]]:
    runtime.policy.enforce("telemetry:query_alarm", ctx, target(ctx.project_id))
    project = None if ctx.is_admin else ctx.project_id
    views = [alarm_view(a) for a in await runtime.alarms.find(project)]
    return await _complex_query(request, views, QUERY_FIELDS)


HISTORY_FIELDS = (
    "event_id",
    "alarm_id",
    "type",
    "detail",
    "user_id",
    "project_id",
    "on_behalf_of",
    "severity",
    "timestamp",
)


@router.post("/v2/query/alarms/history")
async def query_alarm_history(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> list[dict[str, Any]]:
    """What ``openstack alarm-history search --query ...`` sends."""
    runtime.policy.enforce("telemetry:alarm_history", ctx, target(ctx.project_id))
    rows = await runtime.alarms.history(None, None if ctx.is_admin else ctx.project_id)
    return await _complex_query(request, [history_view(r) for r in rows], HISTORY_FIELDS)


async def _complex_query(
    request: Request, views: list[dict[str, Any]], fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Aodh's complex query body ``{filter, orderby, limit}`` applied to ``views``."""
    body = await json_body(request) if (await request.body()).strip() else {}
    if not isinstance(body, dict):
        raise InvalidInput("Invalid query: the body must be an object")
    unknown = set(body) - {"filter", "orderby", "limit"}
    if unknown:
        raise InvalidInput(f"Unknown attribute for argument query: {', '.join(sorted(unknown))}")
    if body.get("filter"):
        predicate = _complex_filter(_json_arg(body["filter"], "filter"), fields)
        views = [v for v in views if predicate(v)]
    orderby: list[tuple[str, bool]] = []
    if body.get("orderby"):
        order = _json_arg(body["orderby"], "orderby")
        if not isinstance(order, list):
            raise InvalidInput("orderby must be a list of {field: asc|desc}")
        for item in order:
            if not isinstance(item, dict) or len(item) != 1:
                raise InvalidInput("orderby must be a list of {field: asc|desc}")
            ((fld, direction),) = item.items()
            if fld not in fields or str(direction).lower() not in ("asc", "desc"):
                raise InvalidInput(f"Invalid orderby {item}")
            orderby.append((fld, str(direction).lower() == "desc"))
    views = _sorted(views, orderby)
    if body.get("limit") is not None:
        limit = body["limit"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise InvalidInput("Limit must be positive")
        views = views[:limit]
    return views


def _paged(
    request: Request, views: list[dict[str, Any]], id_key: str, fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    """``sort=field:dir`` (repeated), ``marker`` (an id) and ``limit``, as aodhclient sends."""
    params = request.query_params
    orderby = []
    for sort in params.getlist("sort"):
        key, _, direction = sort.partition(":")
        if key not in fields or direction not in ("", "asc", "desc"):
            raise InvalidInput(f"Invalid sort {sort!r}: use <field>:asc or <field>:desc")
        orderby.append((key, direction == "desc"))
    views = _sorted(views, orderby)
    marker = params.get("marker")
    if marker:
        ids = [v[id_key] for v in views]
        if marker not in ids:
            raise InvalidInput(f"Invalid marker: {marker} not found")
        views = views[ids.index(marker) + 1 :]
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise InvalidInput("Invalid limit: not an integer")
        if limit <= 0:
            raise InvalidInput("Limit must be positive")
        views = views[:limit]
    return views


@router.post("/v2/alarms", status_code=201)
async def create_alarm(
    request: Request,
    response: Response,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    body = await json_body(request)
    alarm = parse_alarm(body, ctx, runtime)
    runtime.policy.enforce("telemetry:create_alarm", ctx, target(alarm.project_id))
    alarm = await runtime.alarms.create(alarm, _actor(ctx))
    response.headers["Location"] = f"{str(request.base_url).rstrip('/')}/v2/alarms/{alarm.alarm_id}"
    return alarm_view(alarm)


@router.get("/v2/alarms/{alarm_id}")
async def show_alarm(
    alarm_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    alarm = await _visible_alarm(runtime, ctx, alarm_id)
    runtime.policy.enforce("telemetry:get_alarm", ctx, target(alarm.project_id))
    return alarm_view(alarm)


@router.put("/v2/alarms/{alarm_id}")
async def update_alarm(
    alarm_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    existing = await _visible_alarm(runtime, ctx, alarm_id)
    runtime.policy.enforce("telemetry:change_alarm", ctx, target(existing.project_id))
    alarm = parse_alarm(await json_body(request), ctx, runtime, existing)
    alarm = await runtime.alarms.replace(alarm, _actor(ctx))
    return alarm_view(alarm)


@router.delete("/v2/alarms/{alarm_id}", status_code=204)
async def delete_alarm(
    alarm_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    alarm = await _visible_alarm(runtime, ctx, alarm_id)
    runtime.policy.enforce("telemetry:delete_alarm", ctx, target(alarm.project_id))
    await runtime.alarms.delete(alarm_id, _actor(ctx))
    return Response(status_code=204)


@router.get("/v2/alarms/{alarm_id}/state")
async def get_state(
    alarm_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> JSONResponse:
    alarm = await _visible_alarm(runtime, ctx, alarm_id)
    runtime.policy.enforce("telemetry:get_alarm_state", ctx, target(alarm.project_id))
    return JSONResponse(alarm.state)


@router.put("/v2/alarms/{alarm_id}/state")
async def put_state(
    alarm_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> JSONResponse:
    alarm = await _visible_alarm(runtime, ctx, alarm_id)
    runtime.policy.enforce("telemetry:change_alarm_state", ctx, target(alarm.project_id))
    state = await json_body(request)
    if state not in STATES:
        raise InvalidInput(f"state invalid: {state!r} is not one of {', '.join(STATES)}")
    alarm = await runtime.alarms.set_state(alarm_id, state, _actor(ctx))
    return JSONResponse(alarm.state)


@router.get("/v2/alarms/{alarm_id}/history")
async def alarm_history(
    alarm_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> list[dict[str, Any]]:
    runtime.policy.enforce("telemetry:alarm_history", ctx, target(ctx.project_id))
    rows = await runtime.alarms.history(alarm_id, None if ctx.is_admin else ctx.project_id)
    return _paged(request, [history_view(r) for r in rows], "event_id", HISTORY_FIELDS)
