"""Event alarms (Aodh v2 ``event`` type, the seed's ``notification`` type): the model, the
validation rules Aodh applies, and the matching of one event against one alarm.

Matching follows Aodh's event evaluator: ``event_type`` is a shell wildcard (fnmatch), query
items ``{field, op, value, type}`` are ANDed, a ``traits.X`` field compares the event's trait X
converted to the item's type (``""`` means string). A missing trait satisfies only ``ne``.
An alarm in ``alarm`` with ``repeat_actions`` false does not fire again.

Everything here is pure: compiled alarms are plain objects the evaluator indexes.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from stateward.domain.errors import InvalidInput

OK = "ok"
ALARM = "alarm"
INSUFFICIENT_DATA = "insufficient data"
STATES = (OK, ALARM, INSUFFICIENT_DATA)
SEVERITIES = ("low", "moderate", "critical")
EVENT = "event"
TYPES = (EVENT, "notification")  # the seed's name for the same alarm type
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
VALUE_TYPES = ("string", "integer", "float", "boolean", "")
ACTION_SCHEMES = ("http", "https", "log")
FIELD_RE = re.compile(r"^[a-zA-Z.',0-9_-]*$")  # Aodh's event-rule field pattern
# Envelope fields a query may name besides ``traits.X``.
ENVELOPE_FIELDS = ("event_type", "message_id", "publisher_id", "priority", "resource_id")
# Traits indexed for eq queries: an alarm naming one of them only sees events carrying it.
INDEXED_TRAITS = ("instance_id", "port_id", "host")
# Traits that describe the infrastructure; withheld from non-admin alarms' notifications.
INFRA_TRAITS = frozenset(
    {
        "host",
        "hostname",
        "host_ip",
        "chassis",
        "chassis_ip",
        "ip",
        "hypervisor_hostname",
        "binding:host_id",
        "binding_host_id",
        "node",
        "tunnel_ip",
        "monitor",
        "monitor_event_id",
    }
)

TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")


def to_bool(value: Any) -> bool:
    """oslo's strict bool_from_string, also taking real booleans and 0/1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_STRINGS:
        return True
    if text in FALSE_STRINGS:
        return False
    raise ValueError(f"{value!r} is not a boolean")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return int(value)


def _to_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


CONVERTERS: dict[str, tuple[type, Callable[[Any], Any]]] = {
    "string": (str, _to_str),
    "": (str, _to_str),
    "integer": (int, _to_int),
    "float": (float, float),
    "boolean": (bool, to_bool),
}


@dataclass(frozen=True, slots=True)
class QueryItem:
    field: str
    op: str
    value: str
    type: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "op": self.op, "type": self.type, "value": self.value}

    def typed_value(self) -> Any:
        return CONVERTERS[self.type][1](self.value)


@dataclass(frozen=True, slots=True)
class EventRule:
    event_type: str = "*"
    query: tuple[QueryItem, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"event_type": self.event_type, "query": [q.as_dict() for q in self.query]}


@dataclass(frozen=True, slots=True)
class Alarm:
    alarm_id: str
    name: str
    project_id: str
    user_id: str
    rule: EventRule
    description: str = ""
    type: str = EVENT
    enabled: bool = True
    severity: str = "low"
    state: str = INSUFFICIENT_DATA
    state_reason: str = "Not evaluated yet"
    state_timestamp: datetime | None = None
    timestamp: datetime | None = None
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    repeat_actions: bool = False
    time_constraints: tuple[dict[str, Any], ...] = ()
    resource_id: str | None = None
    # The alarm belongs to an admin project: it sees project-less infrastructure events
    # (chassis.down, ...) and its notifications keep infrastructure details.
    admin: bool = False
    generation: int = 0

    def fired_and_no_repeat(self) -> bool:
        return self.state == ALARM and not self.repeat_actions

    def actions_for(self, state: str) -> tuple[str, ...]:
        if state == ALARM:
            return self.alarm_actions
        if state == OK:
            return self.ok_actions
        return self.insufficient_data_actions

    def with_state(self, state: str, reason: str, at: datetime) -> Alarm:
        return replace(self, state=state, state_reason=reason, state_timestamp=at)


def default_description(rule: EventRule) -> str:
    return f"Alarm when {rule.event_type} event occurred."


# --- validation (the API's and the store's shared rules) ---------------------------------


def parse_query_item(raw: Any, where: str) -> QueryItem:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"Invalid input for {where}: each query item must be an object")
    unknown = sorted(set(raw) - {"field", "op", "value", "type"})
    if unknown:
        raise InvalidInput(f"Invalid input for {where}: unknown key(s) {', '.join(unknown)}")
    fld = raw.get("field")
    if not isinstance(fld, str) or not fld:
        raise InvalidInput(f"Invalid input for {where}.field: a field name is required")
    if not FIELD_RE.match(fld):
        raise InvalidInput(
            f"Query value or traits invalid: field {fld!r} does not match {FIELD_RE.pattern}"
        )
    if not (fld.startswith("traits.") and len(fld) > 7) and fld not in ENVELOPE_FIELDS:
        raise InvalidInput(
            f"Query value or traits invalid: field {fld!r} must be traits.<name> or one of "
            f"{', '.join(ENVELOPE_FIELDS)}"
        )
    op = raw.get("op") or "eq"
    if op not in OPS:
        raise InvalidInput(f"Invalid input for {where}.op: {op!r} is not one of {', '.join(OPS)}")
    if "value" not in raw or raw["value"] is None:
        raise InvalidInput(f"Invalid input for {where}.value: a value is required")
    value = raw["value"]
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, str | int | float):
        raise InvalidInput(f"Invalid input for {where}.value: must be a string or a number")
    value = str(value)
    vtype = raw.get("type") or ""
    if vtype not in VALUE_TYPES:
        raise InvalidInput(
            f"The data type {vtype} is not supported. The supported data type list is: "
            "['string', 'integer', 'float', 'boolean']"
        )
    item = QueryItem(field=fld, op=op, value=value, type=vtype)
    try:
        item.typed_value()
    except (TypeError, ValueError):
        raise InvalidInput(
            f"Unable to convert the value {value} to the expected data type {vtype}."
        )
    return item


def parse_event_rule(raw: Any, where: str = "event_rule") -> EventRule:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"Invalid input for {where}: must be an object")
    unknown = sorted(set(raw) - {"event_type", "query"})
    if unknown:
        raise InvalidInput(f"Invalid input for {where}: unknown key(s) {', '.join(unknown)}")
    event_type = raw.get("event_type") or "*"
    if not isinstance(event_type, str) or len(event_type) > 255:
        raise InvalidInput(f"Invalid input for {where}.event_type: must be a string")
    query = raw.get("query") or []
    if not isinstance(query, list):
        raise InvalidInput(f"Invalid input for {where}.query: must be a list")
    items = tuple(parse_query_item(q, f"{where}.query[{i}]") for i, q in enumerate(query))
    return EventRule(event_type=event_type, query=items)


# --- matching ----------------------------------------------------------------------------

_MISSING = object()


def is_wildcard(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


@dataclass(slots=True, eq=False)
class CompiledAlarm:
    """An alarm prepared for fast evaluation: typed values, bound operators, index key."""

    alarm: Alarm
    exact_type: str | None
    type_re: re.Pattern[str] | None
    # (is_trait, key, op, expected, target type, converter, is_ne)
    conds: tuple[tuple[bool, str, Callable[[Any, Any], bool], Any, type, Any, bool], ...]
    index_key: tuple[str, str] | None  # ("resource", id) or (trait, value)
    state: str = field(default=INSUFFICIENT_DATA)
    repeat: bool = False

    @property
    def alarm_id(self) -> str:
        return self.alarm.alarm_id

    def type_matches(self, event_type: str) -> bool:
        if self.exact_type is not None:
            return event_type == self.exact_type
        assert self.type_re is not None
        return self.type_re.match(event_type) is not None

    def query_matches(self, traits: Mapping[str, Any], envelope: Any) -> bool:
        for is_trait, key, op, expected, target, convert, is_ne in self.conds:
            value = traits.get(key, _MISSING) if is_trait else getattr(envelope, key, _MISSING)
            if value is _MISSING or value is None:
                if is_ne:
                    continue
                return False
            if type(value) is not target:
                try:
                    value = convert(value)
                except (TypeError, ValueError):
                    return False
            try:
                if not op(value, expected):
                    return False
            except TypeError:
                return False
        return True

    def matches(self, event_type: str, traits: Mapping[str, Any], envelope: Any) -> bool:
        """Would this event fire the alarm now (enabled, not already fired, rule holds)?"""
        alarm = self.alarm
        if not alarm.enabled:
            return False
        if self.state == ALARM and not alarm.repeat_actions:
            return False
        return self.type_matches(event_type) and self.query_matches(traits, envelope)


def compile_alarm(alarm: Alarm) -> CompiledAlarm:
    pattern = alarm.rule.event_type or "*"
    exact = None if is_wildcard(pattern) else pattern
    type_re = None if exact is not None else re.compile(fnmatch.translate(pattern))
    conds = []
    index_key: tuple[str, str] | None = None
    if alarm.resource_id:
        index_key = ("resource", alarm.resource_id)
    for item in alarm.rule.query:
        is_trait = item.field.startswith("traits.")
        key = item.field[7:] if is_trait else item.field
        target, convert = CONVERTERS[item.type]
        conds.append(
            (is_trait, key, OPS[item.op], item.typed_value(), target, convert, item.op == "ne")
        )
        if (
            index_key is None
            and is_trait
            and item.op == "eq"
            and key in INDEXED_TRAITS
            and target is str
        ):
            index_key = (key, item.value)
    return CompiledAlarm(
        alarm=alarm,
        exact_type=exact,
        type_re=type_re,
        conds=tuple(conds),
        index_key=index_key,
        state=alarm.state,
        repeat=alarm.repeat_actions,
    )


def event_project(envelope: Any) -> str | None:
    """The project an event belongs to: its envelope's, else the tenant_id/project_id trait."""
    project = envelope.project_id
    if project:
        return str(project)
    traits = envelope.traits
    value = traits.get("tenant_id") or traits.get("project_id")
    return str(value) if value else None


RESOURCE_TRAITS = ("instance_id", "port_id", "resource_id")


def event_resources(envelope: Any) -> set[str]:
    """The resource ids an event is about (for alarms that name a ``resource_id``): the
    envelope's ``resource_id`` and the ``instance_id``/``port_id``/``resource_id`` traits."""
    found = set()
    if envelope.resource_id:
        found.add(str(envelope.resource_id))
    traits = envelope.traits
    for key in RESOURCE_TRAITS:
        value = traits.get(key)
        if value:
            found.add(str(value))
    return found


def _query_text(rule: EventRule) -> str:
    """The rule's query as Aodh prints it in a reason; computed once per rule (a burst fires
    many alarms sharing a few rules' shapes, never a new rule per fire)."""
    try:
        return _query_text_cached(rule)
    except TypeError:  # an unhashable value in the query
        return json.dumps([q.as_dict() for q in rule.query], sort_keys=True)


@functools.lru_cache(maxsize=65536)
def _query_text_cached(rule: EventRule) -> str:
    return json.dumps([q.as_dict() for q in rule.query], sort_keys=True)


def fire_reason(alarm: Alarm, envelope: Any) -> tuple[str, dict[str, Any]]:
    """Aodh's reason text and reason_data; infrastructure details only for admin alarms."""
    reason = (
        f"Event <id={envelope.message_id},event_type={envelope.event_type}> hits the query "
        f"<query={_query_text(alarm.rule)}>."
    )
    event: dict[str, Any] = {
        "message_id": envelope.message_id,
        "event_type": envelope.event_type,
        "generated": envelope.generated.isoformat(),
        "project_id": envelope.project_id,
        "resource_id": envelope.resource_id,
    }
    if alarm.admin:
        event["publisher_id"] = envelope.publisher_id
        event["traits"] = dict(envelope.traits)
        event["payload"] = dict(envelope.payload)
    else:
        event["traits"] = {k: v for k, v in envelope.traits.items() if k not in INFRA_TRAITS}
    return reason, {"type": "event", "event": event}


def alarm_to_dict(a: Alarm) -> dict[str, Any]:
    """The full alarm as plain data (carried in ``alarm.*`` notifications between processes)."""
    return {
        "alarm_id": a.alarm_id,
        "name": a.name,
        "project_id": a.project_id,
        "user_id": a.user_id,
        "rule": a.rule.as_dict(),
        "description": a.description,
        "type": a.type,
        "enabled": a.enabled,
        "severity": a.severity,
        "state": a.state,
        "state_reason": a.state_reason,
        "state_timestamp": a.state_timestamp.isoformat() if a.state_timestamp else None,
        "timestamp": a.timestamp.isoformat() if a.timestamp else None,
        "alarm_actions": list(a.alarm_actions),
        "ok_actions": list(a.ok_actions),
        "insufficient_data_actions": list(a.insufficient_data_actions),
        "repeat_actions": a.repeat_actions,
        "time_constraints": [dict(tc) for tc in a.time_constraints],
        "resource_id": a.resource_id,
        "admin": a.admin,
        "generation": a.generation,
    }


def alarm_from_dict(d: Mapping[str, Any]) -> Alarm:
    rule = d.get("rule") or {}
    return Alarm(
        alarm_id=d["alarm_id"],
        name=d["name"],
        project_id=d["project_id"],
        user_id=d["user_id"],
        rule=EventRule(
            event_type=rule.get("event_type") or "*",
            query=tuple(
                QueryItem(q["field"], q.get("op") or "eq", q["value"], q.get("type") or "")
                for q in rule.get("query") or []
            ),
        ),
        description=d.get("description", ""),
        type=d.get("type", EVENT),
        enabled=bool(d.get("enabled", True)),
        severity=d.get("severity", "low"),
        state=d.get("state", INSUFFICIENT_DATA),
        state_reason=d.get("state_reason", ""),
        state_timestamp=datetime.fromisoformat(d["state_timestamp"])
        if d.get("state_timestamp")
        else None,
        timestamp=datetime.fromisoformat(d["timestamp"]) if d.get("timestamp") else None,
        alarm_actions=tuple(d.get("alarm_actions") or ()),
        ok_actions=tuple(d.get("ok_actions") or ()),
        insufficient_data_actions=tuple(d.get("insufficient_data_actions") or ()),
        repeat_actions=bool(d.get("repeat_actions", False)),
        time_constraints=tuple(d.get("time_constraints") or ()),
        resource_id=d.get("resource_id"),
        admin=bool(d.get("admin", False)),
        generation=int(d.get("generation", 0)),
    )
