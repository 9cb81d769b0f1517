"""The event alarm evaluator (seed 001's "notification alarm evaluator").

Every notification on the bus reaches one evaluator process (a queue group); candidate alarms
come from the in-memory index (``alarm_index``). An event belongs to the project in its envelope
(or its ``tenant_id``/``project_id`` trait); events without one (``chassis.down``) are seen by
admin projects' alarms only.

Firing is batched (group commit): every fire asked for while a commit runs joins the next
transaction, which claims each (alarm, event) pair, moves every alarm with ONE compare-and-set
statement, writes the history rows in one statement and the ``alarm.state_transition``
notifications in one outbox insert (``AlarmRepository.fire_many``). So one process wins a race,
a redelivered event never fires an alarm twice, and an event is acknowledged only after its
fires committed. The notifications carry what the notifier needs: delivery is the notifier
role's job, through the bus, so a fire committed just before its process dies is still delivered.

The index is kept current without a staleness window in this process (the alarm service calls
``on_change`` synchronously after each commit) and across processes by the broadcast ``alarm.*``
notifications: a definition change carries the whole alarm; a state transition only moves the
indexed state (no decoding, no store read). A fire is refused by the store if the definition it
evaluated is no longer the current one, and the fresh one is evaluated.

Logging: one INFO line per committed batch; a line per alarm at DEBUG.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from stateward.bus.base import Bus, Subscription, idempotent
from stateward.domain.alarm import ALARM, Alarm, CompiledAlarm, alarm_from_dict, fire_reason
from stateward.domain.events import Envelope, utcnow
from stateward.profiler.hooks import profiled_trace
from stateward.profiler.stamp import stamp
from stateward.services.alarm_index import AlarmIndex, apply_change
from stateward.services.alarms import STATE_TRANSITION, AlarmService, fire_envelope
from stateward.services.gcpause import gc_paused
from stateward.store.db import Store
from stateward.store.repositories.alarms import AlarmRepository, FireAttempt, history_row

log = logging.getLogger(__name__)

GROUP = "alarm-evaluator"
# Events this process evaluates at once; their fires share transactions (group commit).
FIRE_CONCURRENCY = 1024
MAX_BATCH = 500  # fires per transaction at most
HOUSEKEEPING_INTERVAL = 60.0

EVALUATED = Counter("stateward_alarm_events_evaluated_total", "Events evaluated against alarms")
EVAL_SECONDS = Histogram(
    "stateward_alarm_evaluation_seconds",
    "Time to find the alarms an event fires (index lookup and rule matching)",
    buckets=(1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2),
)
FIRED = Counter("stateward_alarm_fired_total", "Alarms fired")
FIRE_BATCH = Histogram(
    "stateward_alarm_fire_batch_size",
    "Alarm fires committed together in one transaction",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)
CAS_LOST = Counter(
    "stateward_alarm_fire_conflicts_total",
    "Fires refused by the store (already fired elsewhere, or the definition changed)",
)
DUPLICATES = Counter(
    "stateward_alarm_fire_duplicates_total",
    "Fires refused because that event already fired that alarm (a redelivered event)",
)

Change = Callable[[AlarmIndex], None]


class AlarmEvaluator:
    """The role: consume notifications, evaluate through the index, fire by compare-and-set."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        service: AlarmService,
        *,
        resync_interval: float = 300.0,
        record_history: bool = True,
        fire_memory: float = 3600.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.service = service
        self.resync_interval = resync_interval
        self.record_history = record_history
        self.fire_memory = fire_memory
        self.index = AlarmIndex()
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loaded = False
        self._changes_during_build: list[Change] | None = None
        self._queued: list[_FireRequest] = []
        self._committer: asyncio.Task[None] | None = None
        self._stamped: dict[str, None] = {}  # traces whose T06/T07 this process stamped
        service.listeners.append(self.on_change)

    async def start(self) -> None:
        await self.reload()
        self._subscriptions.append(await self.bus.subscribe("alarm.>", self._on_alarm_change))
        self._subscriptions.append(
            await self.bus.subscribe(
                ">", idempotent(self.handle), group=GROUP, concurrency=FIRE_CONCURRENCY
            )
        )
        if self.resync_interval > 0:
            self._tasks.append(asyncio.create_task(self._resync(), name="alarm-index-resync"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="alarm-fires-purge"))

    async def stop(self) -> None:
        for sub in self._subscriptions:
            await sub.unsubscribe()
        self._subscriptions.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # -- the index ------------------------------------------------------------------------
    async def reload(self) -> None:
        """Rebuild the index from the store without stopping evaluation: a new index is built
        in slices (yielding to the event loop), the changes seen meanwhile are replayed onto it,
        then it replaces the current one."""
        started = time.perf_counter()
        first = not self._loaded
        self._changes_during_build = []  # from before the read: the snapshot may predate them
        try:
            async with self.store.uow(readonly=True) as uow:
                alarms = await AlarmRepository(uow).stream_all()
            fresh = AlarmIndex()
            for i, alarm in enumerate(alarms):
                fresh.upsert(alarm)
                if i % 2000 == 1999:
                    await asyncio.sleep(0)
            for change in self._changes_during_build:
                change(fresh)
        finally:
            self._changes_during_build = None
        self.index = fresh
        self._loaded = True
        # a large, long-lived index: keep it out of the cyclic GC's collections (their pauses
        # would otherwise land on event latency); its objects are freed by reference counting
        if first:
            gc.collect()
        gc.freeze()
        log.info(
            "alarm index loaded",
            extra={"alarms": len(self.index), "ms": round((time.perf_counter() - started) * 1e3)},
        )

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alarm index resync failed")

    async def _housekeeping(self) -> None:
        """Forget (alarm, event) claims older than any redelivery (``[alarms] fire_memory``)."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                async with self.store.uow() as uow:
                    purged = await AlarmRepository(uow).purge_fires(
                        utcnow() - timedelta(seconds=self.fire_memory)
                    )
                    await uow.commit()
                if purged:
                    log.debug("alarm fire claims purged", extra={"rows": purged})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alarm fire claims purge failed")

    def _change(self, change: Change) -> None:
        change(self.index)
        if self._changes_during_build is not None:
            self._changes_during_build.append(change)

    def on_change(self, alarm_id: str, alarm: Alarm | None) -> None:
        """Synchronous, in-process: the API's change is visible to the next event."""
        self._change(lambda index: apply_change(index, alarm_id, alarm))

    def _state_changed(self, alarm_id: str, state: str) -> None:
        """Only the state moved (a fire): O(1), nothing recompiled."""
        self._change(lambda index: index.set_state(alarm_id, state))

    async def _on_alarm_change(self, envelope: Envelope) -> None:
        """Another process (or this one) changed an alarm."""
        traits = envelope.traits
        alarm_id = traits.get("alarm_id")
        if not alarm_id:
            return
        current = self.index.by_id.get(alarm_id)
        deleted = envelope.event_type == "alarm.deletion"
        if (
            current is not None
            and not deleted
            and current.alarm.generation == traits.get("generation")
        ):
            state = traits.get("state")
            if isinstance(state, str) and current.state != state:
                self._state_changed(alarm_id, state)
            return
        if deleted:
            self.on_change(alarm_id, None)
            return
        data = envelope.payload.get("alarm")
        if isinstance(data, dict):
            try:
                self.on_change(alarm_id, alarm_from_dict(data))
                return
            except (KeyError, TypeError, ValueError):
                log.warning("undecodable alarm change; reading the store", extra={"id": alarm_id})
        async with self.store.uow(readonly=True) as uow:
            alarm = await AlarmRepository(uow).get(alarm_id)
        self.on_change(alarm_id, alarm)

    # -- evaluation -----------------------------------------------------------------------
    async def handle(self, envelope: Envelope) -> None:
        if envelope.event_type.startswith("alarm."):
            return  # our own change notifications never fire alarms (no loops)
        intake = time.time_ns() / 1e9
        started = time.perf_counter()
        hits = self.index.matching(envelope)
        EVAL_SECONDS.observe(time.perf_counter() - started)
        EVALUATED.inc()
        if not hits:
            return
        trace = profiled_trace(envelope)  # the VM-error path only (profiler)
        if trace is not None and trace.trace_id not in self._stamped:
            # the profile keeps the first time of a checkpoint: once per fault is enough
            self._stamped[trace.trace_id] = None
            if len(self._stamped) > 1024:
                del self._stamped[next(iter(self._stamped))]
            stamp(trace, "T06", t=intake, event_type=envelope.event_type)
            stamp(trace, "T07", alarms=len(hits))
        if len(hits) == 1:
            await self.fire(hits[0], envelope)
            return
        results = await asyncio.gather(
            *(self.fire(c, envelope) for c in hits), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the bus redelivers the event; its committed fires are claimed

    async def fire(
        self, compiled: CompiledAlarm, envelope: Envelope, *, retry: bool = True
    ) -> bool:
        """Fire one alarm by compare-and-set; True when this call moved it to ``alarm``.

        The request joins the next group commit; the caller returns only after it committed,
        so the bus acknowledges the event only then.
        """
        request = _FireRequest(
            compiled, envelope, asyncio.get_running_loop().create_future(), compiled.alarm_id
        )
        self._queued.append(request)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="alarm-fire")
        outcome = await request.done
        if outcome.won:
            return True
        if outcome.duplicate:
            return False
        alarm = compiled.alarm
        CAS_LOST.inc()
        fresh = outcome.fresh
        self.on_change(alarm.alarm_id, fresh)
        stale = fresh is not None and (
            fresh.generation != alarm.generation or fresh.state != compiled.state
        )
        if retry and stale:
            again = self.index.by_id.get(alarm.alarm_id)
            if again is not None and again.matches(envelope.event_type, envelope.traits, envelope):
                return await self.fire(again, envelope, retry=False)
        return False

    async def _commit_queued(self) -> None:
        """Commit queued fires, a batch per transaction, until none is left. An alarm appears
        once per batch: a second fire of it waits for the next one (and its fresh state)."""
        await asyncio.sleep(0)  # the handlers already running queue their fires first
        while self._queued:
            batch: list[_FireRequest] = []
            later: list[_FireRequest] = []
            seen: set[str] = set()
            for request in self._queued:
                alarm_id = request.alarm_id
                if alarm_id in seen or len(batch) >= MAX_BATCH:
                    later.append(request)
                else:
                    seen.add(alarm_id)
                    batch.append(request)
            self._queued = later
            started = time.perf_counter()
            try:
                with gc_paused():  # hundreds of rows and notifications, freed on commit
                    outcomes = await self._fire_batch(batch)
            except Exception as exc:  # every caller sees it; the bus redelivers their events
                log.exception("alarm fire batch failed", extra={"batch": len(batch)})
                for request in batch:
                    if not request.done.done():
                        request.done.set_exception(exc)
                continue
            self._after_commit(batch, outcomes, time.perf_counter() - started)
            for request, outcome in zip(batch, outcomes, strict=True):
                if not request.done.done():
                    request.done.set_result(outcome)

    async def _fire_batch(self, batch: list[_FireRequest]) -> list[_FireOutcome]:
        now = utcnow()
        reasons = [fire_reason(r.compiled.alarm, r.envelope) for r in batch]
        attempts = [
            FireAttempt(
                r.compiled.alarm_id,
                r.compiled.alarm.generation,
                r.compiled.state,  # this process's belief; the store decides
                reason,
                r.envelope.message_id,
            )
            for r, (reason, _data) in zip(batch, reasons, strict=True)
        ]
        outcomes: list[_FireOutcome] = []
        history: list[dict[str, Any]] = []
        async with self.store.uow() as uow:
            repo = AlarmRepository(uow)
            result = await repo.fire_many(attempts, now)
            lost = [
                a.alarm_id
                for a in attempts
                if a.alarm_id not in result.won and a.alarm_id not in result.duplicate
            ]
            fresh = await repo.get_many(lost) if lost else {}
            for request, attempt, (reason, reason_data) in zip(
                batch, attempts, reasons, strict=True
            ):
                alarm_id = attempt.alarm_id
                if alarm_id not in result.won:
                    outcomes.append(
                        _FireOutcome(None, alarm_id in result.duplicate, fresh.get(alarm_id))
                    )
                    continue
                alarm = request.compiled.alarm
                fired = alarm.with_state(ALARM, reason, now)
                if self.record_history:
                    history.append(
                        history_row(
                            alarm_id,
                            STATE_TRANSITION,
                            {"state": ALARM, "transition_reason": reason},
                            at=now,
                            user_id=None,
                            project_id=None,
                            on_behalf_of=alarm.project_id,
                            severity=alarm.severity,
                        )
                    )
                uow.emit(
                    fire_envelope(
                        fired,
                        attempt.expected,
                        reason,
                        reason_data,
                        cause=request.envelope.message_id,
                        trace=profiled_trace(request.envelope),
                    )
                )
                outcomes.append(_FireOutcome(fired, False, None))
            await repo.record_changes(history)
            await uow.commit()
            # T08 now: the relay may publish (and the notifier deliver) at the next await
            _stamp_fired(batch, outcomes)
        return outcomes

    def _after_commit(
        self, batch: list[_FireRequest], outcomes: list[_FireOutcome], seconds: float
    ) -> None:
        """The batch is durable: index states, metrics, one log line."""
        fired = 0
        debug = log.isEnabledFor(logging.DEBUG)
        for request, outcome in zip(batch, outcomes, strict=True):
            if outcome.fired is None:
                continue
            fired += 1
            alarm_id = request.alarm_id
            self._state_changed(alarm_id, ALARM)
            if debug:
                log.debug(
                    "alarm fired",
                    extra={
                        "alarm_id": alarm_id,
                        "message_id": request.envelope.message_id,
                        "event_type": request.envelope.event_type,
                    },
                )
        FIRE_BATCH.observe(len(batch))
        FIRED.inc(fired)
        duplicates = sum(1 for o in outcomes if o.duplicate)
        if duplicates:
            DUPLICATES.inc(duplicates)
        log.info(
            "alarms fired",
            extra={
                "fired": fired,
                "batch": len(batch),
                "refused": len(batch) - fired - duplicates,
                "duplicates": duplicates,
                "ms": round(seconds * 1e3, 2),
            },
        )


def _stamp_fired(batch: list[_FireRequest], outcomes: list[_FireOutcome]) -> None:
    """The profiler's T08 (alarm fired), once per trace and batch (a profile keeps the first)."""
    traces: set[str] = set()
    for request, outcome in zip(batch, outcomes, strict=True):
        trace = profiled_trace(request.envelope) if outcome.fired is not None else None
        if trace is not None and trace.trace_id not in traces:
            traces.add(trace.trace_id)
            stamp(trace, "T08", alarm_id=request.alarm_id)


@dataclass(slots=True)
class _FireOutcome:
    """What one fire did: ``fired`` is the new alarm; else ``duplicate`` (that event already
    fired it) or a lost compare-and-set (``fresh`` is the store's current row)."""

    fired: Alarm | None
    duplicate: bool
    fresh: Alarm | None

    @property
    def won(self) -> bool:
        return self.fired is not None


@dataclass(slots=True)
class _FireRequest:
    compiled: CompiledAlarm
    envelope: Envelope
    done: asyncio.Future[_FireOutcome]
    alarm_id: str
