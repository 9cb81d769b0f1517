"""The agent's feed cache: applies in order, never past a gap, idempotent on redelivery."""

from __future__ import annotations

from stateward.domain.agent_feed import (
    DELETE,
    PUT,
    Change,
    FeedCache,
    FeedObject,
    Outcome,
    signal_subject,
    subject_token,
)


def put(seq: int, key: str, **data: object) -> Change:
    return Change(seq, "port", key, PUT, dict(data))


def test_applies_in_order_and_skips_what_it_has() -> None:
    cache = FeedCache()
    cache.load("e1", 2, [FeedObject("port", "a", {"v": 1})])
    outcome, applied = cache.apply("e1", [put(1, "x"), put(3, "b", v=2), put(4, "a", v=3)])
    assert outcome is Outcome.APPLIED
    assert [c.seq for c in applied] == [3, 4]
    assert cache.seq == 4
    assert cache.of("port") == {"a": {"v": 3}, "b": {"v": 2}}
    # the same batch again (a redelivery) changes nothing
    assert cache.apply("e1", [put(3, "b", v=2), put(4, "a", v=3)]) == (Outcome.STALE, [])


def test_a_gap_applies_nothing() -> None:
    cache = FeedCache()
    cache.load("e1", 5, [])
    assert cache.apply("e1", [put(7, "a"), put(8, "b")]) == (Outcome.GAP, [])
    assert cache.seq == 5 and cache.objects == {}


def test_a_hole_inside_a_batch_keeps_the_contiguous_part() -> None:
    cache = FeedCache()
    cache.load("e1", 0, [])
    outcome, applied = cache.apply("e1", [put(1, "a"), put(3, "c")])
    assert outcome is Outcome.APPLIED and [c.seq for c in applied] == [1]
    assert cache.seq == 1


def test_another_epoch_asks_for_a_snapshot() -> None:
    cache = FeedCache()
    cache.load("e1", 3, [])
    assert cache.apply("e2", [put(4, "a")]) == (Outcome.RESYNC, [])


def test_delete_removes_and_empties_the_kind() -> None:
    cache = FeedCache()
    cache.load("e1", 0, [FeedObject("port", "a", {})])
    cache.apply("e1", [Change(1, "port", "a", DELETE), Change(2, "port", "zz", DELETE)])
    assert cache.objects == {} and cache.seq == 2


def test_round_trip_and_subjects() -> None:
    change = Change(9, "chassis", "ch-1", PUT, {"ip": "10.0.0.1"})
    assert Change.from_dict(change.to_dict()) == change
    # dotted host names get distinct, valid subject tokens
    assert "." not in subject_token("compute-1.example.org")
    assert subject_token("a.b") != subject_token("a_b")
    assert signal_subject("a.b").startswith("agent_feed.")
