"""Event alarm rules: Aodh's validation and matching, and the evaluator's index."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stateward.domain.alarm import (
    ALARM,
    Alarm,
    EventRule,
    compile_alarm,
    fire_reason,
    parse_event_rule,
)
from stateward.domain.errors import InvalidInput
from stateward.domain.events import Envelope
from stateward.services.alarm_index import AlarmIndex


def alarm(
    rule: dict[str, object],
    *,
    project: str = "p1",
    alarm_id: str = "a1",
    admin: bool = False,
    **kw: object,
) -> Alarm:
    return Alarm(
        alarm_id=alarm_id,
        name=alarm_id,
        project_id=project,
        user_id="u",
        rule=parse_event_rule(rule),
        admin=admin,
        **kw,  # type: ignore[arg-type]
    )


def event(
    event_type: str = "compute.instance.update", project: str | None = "p1", **traits: object
) -> Envelope:
    return Envelope(event_type=event_type, publisher_id="t", project_id=project, traits=traits)


def q(fld: str, op: str, value: str, vtype: str = "") -> dict[str, str]:
    return {"field": fld, "op": op, "value": value, "type": vtype}


def fires(a: Alarm, e: Envelope) -> bool:
    return compile_alarm(a).matches(e.event_type, e.traits, e)


@pytest.mark.parametrize(
    ("query", "traits", "expected"),
    [
        (q("traits.state", "eq", "error", "string"), {"state": "error"}, True),
        (q("traits.state", "eq", "error"), {"state": "active"}, False),
        (q("traits.state", "ne", "error"), {"state": "active"}, True),
        (q("traits.state", "ne", "error"), {}, True),
        (q("traits.state", "eq", "error"), {}, False),
        (q("traits.vcpus", "gt", "4", "integer"), {"vcpus": 8}, True),
        (q("traits.vcpus", "gt", "4", "integer"), {"vcpus": "8"}, True),
        (q("traits.vcpus", "le", "4", "integer"), {"vcpus": 8}, False),
        (q("traits.vcpus", "lt", "4", "integer"), {"vcpus": "x"}, False),
        (q("traits.load", "ge", "0.5", "float"), {"load": 0.75}, True),
        (q("traits.up", "eq", "false", "boolean"), {"up": False}, True),
        (q("traits.up", "eq", "false", "boolean"), {"up": "true"}, False),
        (q("traits.vcpus", "eq", "8", "string"), {"vcpus": 8}, True),
        (q("event_type", "eq", "compute.instance.update"), {}, True),
    ],
)  # fmt: skip
def test_query_items_compare_traits_with_type_conversion(
    query: dict[str, str], traits: dict[str, object], expected: bool
) -> None:
    a = alarm({"event_type": "compute.instance.update", "query": [query]})
    assert fires(a, event(**traits)) is expected


def test_query_items_are_anded() -> None:
    a = alarm(
        {
            "event_type": "compute.instance.update",
            "query": [
                {"field": "traits.state", "op": "eq", "value": "error"},
                {"field": "traits.instance_id", "op": "eq", "value": "vm-1"},
            ],
        }
    )
    assert fires(a, event(state="error", instance_id="vm-1"))
    assert not fires(a, event(state="error", instance_id="vm-2"))


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("compute.instance.update", "compute.instance.update", True),
        ("compute.instance.*", "compute.instance.update", True),
        ("compute.*", "compute.instance.delete.end", True),  # fnmatch, not NATS tokens
        ("*", "chassis.down", True),
        ("compute.instance.update", "compute.instance.updated", False),
        ("port.?pdate.end", "port.update.end", True),
        ("port.[ud]*", "port.create.end", False),
    ],
)
def test_event_type_is_a_shell_wildcard(pattern: str, event_type: str, expected: bool) -> None:
    assert fires(alarm({"event_type": pattern}), event(event_type)) is expected


def test_fired_alarm_without_repeat_does_not_fire_again_but_repeating_one_does() -> None:
    once = alarm({"event_type": "*"}, state=ALARM)
    again = alarm({"event_type": "*"}, state=ALARM, repeat_actions=True)
    assert not fires(once, event())
    assert fires(again, event())
    assert not fires(alarm({"event_type": "*"}, enabled=False), event())


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"query": [q("traits.a b", "eq", "1")]}, "Query value or traits invalid"),
        ({"query": [{"field": "payload.x", "op": "eq", "value": "1"}]}, "must be traits.<name>"),
        ({"query": [{"field": "traits.a", "op": "like", "value": "1"}]}, "'like' is not one of eq"),
        ({"query": [{"field": "traits.a", "op": "eq", "value": "x", "type": "integer"}]},
         "Unable to convert the value x to the expected data type integer"),
        ({"query": [{"field": "traits.a", "op": "eq", "value": "maybe", "type": "boolean"}]},
         "expected data type boolean"),
        ({"query": [{"field": "traits.a", "op": "eq", "value": "1", "type": "datetime"}]},
         "The data type datetime is not supported"),
        ({"query": [{"field": "traits.a", "op": "eq"}]}, "value is required"),
        ({"query": "traits.a=1"}, "query: must be a list"),
        ({"event_type": "x", "bogus": 1}, "unknown key(s) bogus"),
    ],
)  # fmt: skip
def test_invalid_rules_are_refused_with_a_message(rule: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_event_rule(rule)
    assert message in err.value.message


def test_missing_event_type_defaults_to_every_event() -> None:
    assert parse_event_rule({}) == EventRule(event_type="*", query=())


def test_index_finds_alarms_by_resource_indexed_trait_exact_type_and_wildcard() -> None:
    index = AlarmIndex()
    by_resource = alarm({"event_type": "compute.instance.update"}, alarm_id="r", resource_id="vm-1")
    by_trait = alarm(
        {"event_type": "*", "query": [{"field": "traits.host", "op": "eq", "value": "h1"}]},
        alarm_id="t",
    )
    by_type = alarm({"event_type": "compute.instance.update"}, alarm_id="x")
    wild = alarm({"event_type": "compute.*"}, alarm_id="w")
    other_project = alarm({"event_type": "*"}, alarm_id="o", project="p2")
    index.load([by_resource, by_trait, by_type, wild, other_project])

    def ids(e: Envelope) -> set[str]:
        return {c.alarm_id for c in index.matching(e)}

    assert ids(event(instance_id="vm-1", host="h1")) == {"r", "t", "x", "w"}
    assert ids(event(instance_id="vm-2", host="h2")) == {"x", "w"}
    assert ids(event("port.update.end", host="h1")) == {"t"}
    assert ids(event(project="p3")) == set()
    # the candidate set for an unrelated resource does not include keyed alarms at all
    assert {c.alarm_id for c in index.candidates(event(instance_id="vm-9"))} == {"x", "w"}


def test_index_is_updated_in_place_and_ignores_older_definitions() -> None:
    index = AlarmIndex()
    first = alarm({"event_type": "a.b"}, generation=1)
    index.upsert(first)
    assert index.matching(event("a.b"))
    changed = replace(first, rule=parse_event_rule({"event_type": "c.d"}), generation=2)
    index.upsert(changed)
    assert not index.matching(event("a.b"))
    assert index.matching(event("c.d"))
    index.upsert(first)  # a stale copy arriving late
    assert index.matching(event("c.d"))
    index.upsert(replace(changed, enabled=False, generation=3))
    assert not index.matching(event("c.d"))
    index.upsert(replace(changed, generation=4))
    index.set_state("a1", ALARM)
    assert not index.matching(event("c.d"))
    index.remove("a1")
    assert len(index) == 0


def test_events_without_project_reach_only_admin_alarms() -> None:
    index = AlarmIndex()
    index.load(
        [
            alarm({"event_type": "chassis.down"}, alarm_id="adm", project="admin", admin=True),
            alarm({"event_type": "chassis.down"}, alarm_id="usr", project="p1"),
        ]
    )
    assert {c.alarm_id for c in index.matching(event("chassis.down", project=None))} == {"adm"}
    # the tenant_id trait names the project when the envelope does not
    tenant_event = event("chassis.down", project=None, tenant_id="p1")
    assert {c.alarm_id for c in index.matching(tenant_event)} == {"usr"}


def test_reason_withholds_infrastructure_from_project_alarms() -> None:
    e = event(state="error", host="compute-7", instance_id="vm-1")
    _reason, project_data = fire_reason(alarm({"event_type": "*"}), e)
    _reason, admin_data = fire_reason(alarm({"event_type": "*"}, admin=True), e)
    assert project_data["event"]["traits"] == {"state": "error", "instance_id": "vm-1"}
    assert admin_data["event"]["traits"]["host"] == "compute-7"
