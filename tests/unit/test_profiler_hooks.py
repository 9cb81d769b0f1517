"""Where the fault path stamps: the monitor's time as T00, T04 at commit, T05 at publish."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from stateward.domain.events import Envelope
from stateward.profiler.hooks import epoch_of, profiled_trace, stamp_committed, stamp_notified
from stateward.profiler.stamp import Stamp, add_sink, new_trace, remove_sink


@pytest.fixture
def stamps() -> Iterator[list[Stamp]]:
    seen: list[Stamp] = []
    add_sink(seen.append)
    try:
        yield seen
    finally:
        remove_sink(seen.append)


def test_a_doctor_event_time_is_utc_epoch_seconds() -> None:
    expected = datetime(2026, 11, 22, 0, 34, 30, 207000, tzinfo=UTC).timestamp()
    assert epoch_of("2026-11-22T00:34:30.207") == pytest.approx(expected)  # Doctor's format
    assert epoch_of("2026-11-22T00:34:30.207Z") == pytest.approx(expected)
    assert epoch_of("2026-11-22T01:34:30.207+01:00") == pytest.approx(expected)
    assert epoch_of(datetime(2026, 11, 22, 0, 34, 30, 207000)) == pytest.approx(expected)
    for unusable in (None, "", "now", "yesterday", 12, "1970-01-01T00:00:00"):
        assert epoch_of(unusable) is None


def test_one_stamp_per_trace_for_its_first_instance_notification(stamps: list[Stamp]) -> None:
    one, two = new_trace(), new_trace()
    rows = [
        (1, Envelope("chassis.down", "liveness", trace=one)),  # not a VM notification
        (2, Envelope("compute.instance.update", "compute", {"instance_id": "a"}, trace=one)),
        (3, Envelope("compute.instance.update", "compute", {"instance_id": "b"}, trace=one)),
        (4, Envelope("port.update.end", "network", trace=two)),
        (5, Envelope("compute.instance.update", "compute", {"instance_id": "c"}, trace=two)),
        (6, Envelope("compute.instance.update", "compute", {"instance_id": "d"})),  # untraced
    ]
    stamp_committed(rows)
    stamp_notified(e for _, e in rows)
    assert [(s.trace_id, s.checkpoint) for s in stamps] == [
        (one.trace_id, "T04"),
        (two.trace_id, "T04"),
        (one.trace_id, "T05"),
        (two.trace_id, "T05"),
    ]
    assert stamps[0].t <= stamps[2].t


def test_only_the_vm_error_path_is_profiled_after_t05() -> None:
    trace = new_trace()
    assert profiled_trace(Envelope("compute.instance.update", "c", trace=trace)) == trace
    # the raw failure itself and other events of the fault carry the trace but are not profiled:
    # an alarm on chassis.down would otherwise stamp T06..T10 before the VMs are in error
    for kind in ("chassis.down", "port.update.end", "compute.host.down"):
        assert profiled_trace(Envelope(kind, "x", trace=trace)) is None
    assert profiled_trace(Envelope("compute.instance.update", "c")) is None
