"""The trace points roles call: ``stamp(trace, "T02", vms=50)``.

A stamp (a) writes one structured log record — ``event`` ``profile.checkpoint`` with
``trace_id``, ``checkpoint``, ``t`` (epoch seconds from ``time.time_ns``), ``process_name``
and ``meta`` — so ``stateward profile import-log`` can rebuild profiles from the logs of several
processes, and (b) hands the same record to the in-process sinks (the server's recorder
queues it and writes batches to the store in the background).

Without a trace (``trace is None``) a stamp is a no-op: the cost on the hot path of an
untraced event is one comparison. A stamp never raises: profiling must not break a role.

The trace context travels with the work: in the bus envelope (``Envelope.trace``) and in
HTTP headers (``X-Stateward-Trace``, see ``trace_headers``/``trace_from_headers``), so a
consumer on another machine can post its checkpoints back to the same profile.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stateward.domain.events import TraceContext
from stateward.profiler.model import BY_NAME

log = logging.getLogger("stateward.profiler")

EVENT = "profile.checkpoint"
HEADER = "X-Stateward-Trace"
_TRACE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Stamp:
    trace_id: str
    checkpoint: str
    t: float
    process: str
    meta: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[Stamp], None]

_sinks: list[Sink] = []
_process = f"{socket.gethostname()}:{os.getpid()}"


def set_process_name(name: str) -> None:
    """Name this process in its stamps (e.g. ``inspector@host1``); default ``host:pid``."""
    global _process
    _process = name


def process_name() -> str:
    return _process


def add_sink(sink: Sink) -> None:
    """Receive every stamp of this process (must be cheap and must not block)."""
    if sink not in _sinks:
        _sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def now() -> float:
    """Epoch seconds with the resolution of ``time.time_ns``."""
    return time.time_ns() / 1e9


def valid_trace_id(value: str) -> bool:
    return bool(_TRACE_ID.match(value))


def new_trace(parent: str | None = None) -> TraceContext:
    """Open a trace (every raw failure opens one)."""
    return TraceContext(trace_id=uuid.uuid4().hex, parent=parent)


def open_trace(host_down_at: float | None = None, **meta: Any) -> TraceContext:
    """Open the trace of a raw failure as it arrives: T01 now, and T00 when the monitor said
    when the host went down (``host_down_at``, epoch seconds; e.g. a Doctor event's ``time``).
    """
    trace = new_trace()
    if host_down_at is not None:
        stamp(trace, "T00", t=host_down_at, **meta)
    stamp(trace, "T01", **meta)
    return trace


def stamp(
    trace: TraceContext | None, checkpoint: str, *, t: float | None = None, **meta: Any
) -> Stamp | None:
    """Record that ``trace`` reached ``checkpoint`` now (or at ``t``, epoch seconds)."""
    if trace is None:
        return None
    try:
        if checkpoint not in BY_NAME:
            log.warning(
                "profile.unknown_checkpoint",
                extra={"trace_id": trace.trace_id, "checkpoint": checkpoint},
            )
            return None
        record = Stamp(trace.trace_id, checkpoint, now() if t is None else float(t), _process, meta)
        log.info(
            EVENT,
            extra={
                "trace_id": record.trace_id,
                "checkpoint": record.checkpoint,
                "t": record.t,
                "process_name": record.process,  # "process" is taken by LogRecord (the pid)
                "meta": meta,
            },
        )
        for sink in list(_sinks):
            try:
                sink(record)
            except Exception:
                log.exception("profile sink failed")
        return record
    except Exception:  # profiling must never break the role that stamps
        log.exception("profile stamp failed")
        return None


def trace_headers(trace: TraceContext | None) -> dict[str, str]:
    """HTTP headers carrying the trace to a webhook receiver (empty without a trace)."""
    if trace is None:
        return {}
    value = trace.trace_id if not trace.parent else f"{trace.trace_id};parent={trace.parent}"
    return {HEADER: value}


def trace_from_headers(headers: Mapping[str, str] | None) -> TraceContext | None:
    """The trace a request carries, or None (absent or malformed headers are ignored)."""
    if not headers:
        return None
    value = None
    for key, candidate in headers.items():
        if key.lower() == HEADER.lower():
            value = candidate
            break
    if not value:
        return None
    trace_id, _, rest = value.strip().partition(";")
    trace_id = trace_id.strip()
    if not valid_trace_id(trace_id):
        return None
    parent = None
    for part in rest.split(";"):
        key, _, val = part.strip().partition("=")
        if key == "parent" and val:
            parent = val.strip()
    return TraceContext(trace_id=trace_id, parent=parent)
