"""Trace points: what a stamp logs and hands to sinks, and the trace's HTTP headers."""

from __future__ import annotations

import logging

import pytest

from stateward.domain.events import Envelope, TraceContext
from stateward.profiler.stamp import (
    EVENT,
    HEADER,
    Stamp,
    add_sink,
    new_trace,
    open_trace,
    remove_sink,
    stamp,
    trace_from_headers,
    trace_headers,
)


@pytest.fixture
def sunk() -> list[Stamp]:
    seen: list[Stamp] = []
    add_sink(seen.append)
    yield seen
    remove_sink(seen.append)


def test_no_trace_is_a_no_op(sunk: list[Stamp], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="stateward.profiler"):
        assert stamp(None, "T02", vms=3) is None
    assert sunk == [] and caplog.records == []


def test_stamp_logs_a_structured_record_and_feeds_sinks(
    sunk: list[Stamp], caplog: pytest.LogCaptureFixture
) -> None:
    trace = new_trace()
    with caplog.at_level(logging.INFO, logger="stateward.profiler"):
        record = stamp(trace, "T02", vms=3)
    assert record is not None and sunk == [record]
    assert record.trace_id == trace.trace_id and record.checkpoint == "T02"
    assert record.meta == {"vms": 3}
    [log] = caplog.records
    assert log.getMessage() == EVENT
    assert log.trace_id == trace.trace_id  # type: ignore[attr-defined]
    assert log.checkpoint == "T02"  # type: ignore[attr-defined]
    assert log.t == record.t  # type: ignore[attr-defined]
    assert log.process_name == record.process  # type: ignore[attr-defined]


def test_explicit_time_and_unknown_checkpoint(sunk: list[Stamp]) -> None:
    trace = new_trace()
    assert stamp(trace, "T00", t=1_795_306_991.5) is not None
    assert sunk[0].t == 1_795_306_991.5
    assert stamp(trace, "T42") is None
    assert len(sunk) == 1


def test_a_failing_sink_does_not_break_the_role(sunk: list[Stamp]) -> None:
    def broken(_record: Stamp) -> None:
        raise RuntimeError("sink down")

    add_sink(broken)
    try:
        assert stamp(new_trace(), "T05") is not None
    finally:
        remove_sink(broken)
    assert len(sunk) == 1


def test_trace_travels_in_headers() -> None:
    trace = TraceContext("abc123", parent="evaluator")
    headers = trace_headers(trace)
    assert headers == {HEADER: "abc123;parent=evaluator"}
    assert trace_from_headers({k.lower(): v for k, v in headers.items()}) == trace
    assert trace_from_headers(trace_headers(TraceContext("x1"))) == TraceContext("x1")
    assert trace_headers(None) == {}
    assert trace_from_headers({}) is None
    assert trace_from_headers({HEADER: "bad id with spaces"}) is None
    assert trace_from_headers({HEADER: ""}) is None


def test_trace_travels_in_the_bus_envelope() -> None:
    trace = new_trace()
    envelope = Envelope(event_type="compute.instance.update", publisher_id="t", trace=trace)
    assert Envelope.from_dict(envelope.to_dict()).trace == trace


def test_a_raw_failure_opens_a_trace(sunk: list[Stamp]) -> None:
    trace = open_trace(host_down_at=1_795_306_991.0, host="compute-1")
    assert [(s.checkpoint, s.trace_id) for s in sunk] == [
        ("T00", trace.trace_id),
        ("T01", trace.trace_id),
    ]
    assert sunk[0].t == 1_795_306_991.0 and sunk[1].t > sunk[0].t
    assert sunk[1].meta == {"host": "compute-1"}
    assert open_trace().trace_id != trace.trace_id


def test_the_profiler_core_imports_no_server_code(python_env: dict[str, str]) -> None:
    """The package works offline: model, stamp, logs and render need no server runtime."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import stateward.profiler.model, stateward.profiler.stamp, stateward.profiler.logs\n"
        "import stateward.profiler.render, stateward.profiler.png\n"
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'stateward.runtime', 'stateward.store')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=python_env)
