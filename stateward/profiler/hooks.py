"""Where the roles on the fault path stamp their checkpoints (small helpers they call).

=====  ======================  ==============================================================
T00    host down               the monitor's own time for the fault (a Doctor event's ``time``);
                               for liveness, the chassis' deadline (last report +
                               ``chassis_down_time``): the moment the rule says it is down
T01    raw failure             the inspector receives a monitor's event; for liveness, the
                               watcher has committed ``chassis.down`` (the raw failure leaves)
T02    found affected          the inspector looked the host up in its host index
T03    marked host down        the compute service's forced_down compare-and-set won
T04    set VM error            the transaction moving the servers to the fault state committed
                               (a commit listener: stamped when the commit returns, before the
                               relay can run)
T05    notified VM error       the outbox relay hands the first ``compute.instance.*`` of the
                               trace to the bus (stamped just before the publish call, so it
                               can never come after the subscriber's T06)
T06..  evaluator / consumer    ``services/alarm_evaluator.py``, ``testing/consumer.py``
=====  ======================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from stateward.domain.events import Envelope, TraceContext
from stateward.profiler.stamp import stamp


def epoch_of(value: Any) -> float | None:
    """A monitor's event time as epoch seconds, or None (absent or unparsable).

    Doctor's sample monitor sends ``2026-11-22T00:34:30.207`` (UTC without an offset).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    t = parsed.timestamp()
    return t if t > 0 else None


def profiled_trace(envelope: Envelope) -> TraceContext | None:
    """The trace to stamp T06..T10 with: only on the VM-error path (the seed's T05 -> T06).

    The raw failure itself (``chassis.down``) and other events of the same fault carry the trace
    too; an alarm on them would put its intake, fire and webhook before the VMs' error and
    scramble the profile's order, so they are not profiled.
    """
    if envelope.trace is None or not envelope.event_type.startswith("compute.instance."):
        return None
    return envelope.trace


def _first_instance_events(envelopes: Iterable[Envelope]) -> list[Envelope]:
    seen: set[str] = set()
    first = []
    for envelope in envelopes:
        trace = envelope.trace
        if (
            trace is None
            or trace.trace_id in seen
            or not envelope.event_type.startswith("compute.instance.")
        ):
            continue
        seen.add(trace.trace_id)
        first.append(envelope)
    return first


def stamp_committed(rows: list[tuple[int, Envelope]]) -> None:
    """T04: a commit listener; the servers' new state is durable (first event per trace)."""
    for envelope in _first_instance_events(e for _, e in rows):
        stamp(envelope.trace, "T04", event_type=envelope.event_type)


def stamp_notified(envelopes: Iterable[Envelope]) -> None:
    """T05 for each trace whose first ``compute.instance.*`` notification is about to leave."""
    for envelope in _first_instance_events(envelopes):
        stamp(envelope.trace, "T05", event_type=envelope.event_type)
