"""The journal's pure rules: row states, recovery, backoff, full sync, dependencies."""

from __future__ import annotations

import pytest

from stateward.domain import journal as j
from stateward.domain.events import Envelope
from stateward.domain.journal import FullSyncState, Operation, Outcome, Recovery, RowState
from stateward.services.journal import journal_items


def test_success_completes_and_keeps_the_retry_count() -> None:
    assert j.after_attempt(2, Outcome.SUCCESS, 5) == j.RowUpdate(RowState.COMPLETED, 2)


def test_connection_error_returns_to_pending_without_counting() -> None:
    assert j.after_attempt(4, Outcome.CONNECTION_ERROR, 5) == j.RowUpdate(RowState.PENDING, 4)


def test_other_errors_count_and_fail_at_retry_count() -> None:
    tries = [j.after_attempt(n, Outcome.ERROR, 5) for n in range(5)]
    assert [t.state for t in tries] == [RowState.PENDING] * 4 + [RowState.FAILED]
    assert tries[-1].retry_count == 5


@pytest.mark.parametrize(
    ("operation", "exists", "expected"),
    [
        (Operation.CREATE, True, Recovery.COMPLETE),
        (Operation.CREATE, False, Recovery.RETRY),
        (Operation.DELETE, True, Recovery.RETRY),
        (Operation.DELETE, False, Recovery.COMPLETE),
        (Operation.UPDATE, True, Recovery.RETRY),
        (Operation.UPDATE, False, Recovery.RECREATE),
    ],
)
def test_failed_row_recovery_follows_the_controller(
    operation: Operation, exists: bool, expected: Recovery
) -> None:
    assert j.recover(operation, exists) is expected


def test_backoff_doubles_from_a_tenth_of_a_second_up_to_a_minute() -> None:
    delays, current = [], None
    for _ in range(12):
        current = j.next_backoff(current, 0.1, 60.0)
        delays.append(current)
    assert delays[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert delays[-1] == 60.0 and max(delays) == 60.0


def test_full_sync_walks_the_seed_state_machine() -> None:
    state = FullSyncState.NULL
    for nxt in (
        FullSyncState.CHECKING,
        FullSyncState.OUTOFSYNC,
        FullSyncState.SYNCING,
        FullSyncState.NORMAL,
        FullSyncState.CHECKING,
        FullSyncState.NORMAL,
    ):
        state = j.full_sync_step(state, nxt)
    with pytest.raises(j.InvalidTransition):
        j.full_sync_step(FullSyncState.NORMAL, FullSyncState.SYNCING)
    with pytest.raises(j.InvalidTransition):
        j.full_sync_step(FullSyncState.NULL, FullSyncState.NORMAL)
    with pytest.raises(j.InvalidTransition):
        j.full_sync_step(FullSyncState.OUTOFSYNC, FullSyncState.NORMAL)
    # a new maintenance holder starts an interrupted sync over
    assert j.full_sync_step(FullSyncState.SYNCING, FullSyncState.CHECKING) is FullSyncState.CHECKING


def test_a_port_hangs_from_its_network_and_subnets() -> None:
    port = {
        "network_id": "n1",
        "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.3"}, {"subnet_id": "s2"}],
        "device_owner": "network:router_interface",
        "device_id": "r1",
    }
    assert j.parent_refs("port", port) == ["n1", "s1", "s2", "r1"]
    assert j.parent_refs("subnet", {"network_id": "n1"}) == ["n1"]
    assert j.parent_refs("network", {"id": "n1"}) == []


def _body(kind: str, **values: object) -> dict[str, object]:
    base = {f: None for f in j.COMPARED_FIELDS[kind]}
    base.update(values)
    return base


def test_full_sync_plan_heals_missing_altered_and_extra_objects() -> None:
    ours = {
        "network": {"n1": _body("network", id="n1", name="a"), "n2": _body("network", id="n2")},
        "port": {"p1": _body("port", id="p1", network_id="n1", name="x")},
    }
    theirs = {
        "network": {"n1": _body("network", id="n1", name="CORRUPT"), "n9": {"id": "n9"}},
        "port": {"p1": _body("port", id="p1", network_id="n1", name="x")},
        "subnet": {"s9": {"id": "s9", "network_id": "n9"}},
    }
    plan = j.plan_full_sync(ours, theirs, busy=[])
    assert [(t, b["id"]) for t, b in plan.creates] == [("network", "n2")]
    assert [(t, b["id"]) for t, b in plan.updates] == [("network", "n1")]
    # children before parents when deleting
    assert [(t, b["id"]) for t, b in plan.deletes] == [("subnet", "s9"), ("network", "n9")]


def test_full_sync_leaves_objects_with_rows_in_flight_alone() -> None:
    ours = {"network": {"n2": _body("network", id="n2")}}
    theirs = {"network": {"n9": {"id": "n9"}}}
    assert j.plan_full_sync(ours, theirs, busy=["n2", "n9"]).empty


def test_list_order_does_not_make_a_difference() -> None:
    a = _body("subnet", dns_nameservers=["1.1.1.1", "8.8.8.8"])
    b = _body("subnet", dns_nameservers=["8.8.8.8", "1.1.1.1"])
    assert j.differs("subnet", a, b) == []
    assert j.differs("subnet", a, {**b, "cidr": "10.0.0.0/8"}) == ["cidr"]


def _event(event_type: str, kind: str, body: dict[str, object]) -> Envelope:
    return Envelope(
        event_type=event_type,
        publisher_id="t",
        project_id="p",
        resource_id=str(body["id"]),
        payload={kind: body},
        traits={},
    )


def test_network_delete_journals_its_subnets_deletes_first() -> None:
    events = [
        _event("network.delete.end", "network", {"id": "n1", "subnets": ["s1", "s2"]}),
        _event("port.update.end", "port", {"id": "p1"}),
        _event("compute.instance.update", "instance", {"id": "i1"}),
    ]
    items = [(t, u, str(o)) for t, u, o, _ in journal_items(events)]
    assert items == [
        ("subnet", "s1", "delete"),
        ("subnet", "s2", "delete"),
        ("network", "n1", "delete"),
        ("port", "p1", "update"),
    ]


def test_a_copy_wrong_where_updates_cannot_reach_is_recreated() -> None:
    ours = {"subnet": {"s1": _body("subnet", id="s1", cidr="10.0.0.0/24")}}
    theirs = {"subnet": {"s1": _body("subnet", id="s1", cidr="10.9.0.0/24")}}
    plan = j.plan_full_sync(ours, theirs, busy=[])
    assert plan.summary() == {"create": 0, "update": 0, "delete": 0, "recreate": 1}


def test_odl_keeps_binding_profile_as_a_string() -> None:
    ours = _body("port", **{"binding:profile": {"port_key": "remote_port"}})
    theirs = _body("port", **{"binding:profile": '{"port_key": "remote_port"}'})
    assert j.differs("port", ours, theirs) == []
    assert j.differs("port", _body("port", **{"binding:profile": {}}), _body("port")) == []


def test_odl_bodies_leave_out_what_odl_refuses() -> None:
    from stateward.sdn.odl import odl_body

    port = {
        "id": "p",
        "network_id": "n",
        "status": "DOWN",
        "tenant_id": "t",
        "name": "x",
        "binding:profile": {"a": 1},
        "dns_name": None,
    }
    created = odl_body("port", "create", port)
    assert "status" not in created and created["project_id"] == "t"
    assert created["binding:profile"] == '{"a": 1}' and "dns_name" not in created
    updated = odl_body("port", "update", port)
    assert not {"id", "network_id", "status", "tenant_id", "project_id"} & set(updated)
    assert updated["name"] == "x"
    assert "subnets" not in odl_body("network", "create", {"id": "n", "subnets": []})
