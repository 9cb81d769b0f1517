"""The event alarm evaluator (seed 001's "notification alarm evaluator").

Every notification on the bus reaches one evaluator process (a queue group). Candidate alarms
come from an in-memory index per project instead of a scan of the project's alarms:

* by ``resource_id`` (the seed's optional field) — the event's resource ids;
* else by an ``eq`` query item on ``traits.instance_id``, ``traits.port_id`` or ``traits.host``;
* else by event type: exact types in a dict, wildcard patterns in a short list whose per-type
  result is cached until the project's wildcard alarms change.

An event belongs to the project in its envelope (or its ``tenant_id``/``project_id`` trait);
events without one (``chassis.down``) are seen by admin projects' alarms only. Matching
alarms move to ``alarm`` by compare-and-set in the store (one process wins a race), get a
history row and an ``alarm.state_transition`` notification, and go to the notifier.

The index is kept current without a staleness window in this process (the alarm service calls
``on_change`` synchronously after each commit) and across processes by the broadcast
``alarm.*`` notifications (each process re-reads the row). A fire is refused by the store if
the definition it evaluated is no longer the current one, and the fresh one is evaluated.
The hot path touches the store only for an event that matches.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from stateward.bus.base import Bus, Subscription, idempotent
from stateward.domain.alarm import (
    ALARM,
    EVENT,
    RESOURCE_TRAITS,
    Alarm,
    CompiledAlarm,
    alarm_from_dict,
    compile_alarm,
    event_project,
    fire_reason,
)
from stateward.domain.events import Envelope, utcnow
from stateward.profiler.hooks import profiled_trace
from stateward.profiler.stamp import stamp
from stateward.services.alarm_notifier import AlarmNotifier
from stateward.services.alarms import STATE_TRANSITION, AlarmService, change_envelope
from stateward.store.db import Store
from stateward.store.repositories.alarms import AlarmRepository

log = logging.getLogger(__name__)


def _stamp(trace: Any, checkpoint: str, *, t: float | None = None, **meta: Any) -> None:
    """The profiler's checkpoints (seed 001): T06 intake, T07 evaluated, T08 fired."""
    if trace is not None:
        stamp(trace, checkpoint, t=t, **meta)


GROUP = "alarm-evaluator"
# Events this process evaluates at once; their fires share transactions (group commit).
FIRE_CONCURRENCY = 64

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
    buckets=(1, 2, 5, 10, 25, 50, 100, 250),
)
CAS_LOST = Counter(
    "stateward_alarm_fire_conflicts_total",
    "Fires refused by the store (already fired elsewhere, or the definition changed)",
)


class ProjectIndex:
    """The alarms of one project (or of all admin projects), by how an event finds them."""

    __slots__ = ("_wild_cache", "by_resource", "by_trait", "exact", "wild")

    def __init__(self) -> None:
        self.by_resource: dict[str, dict[str, CompiledAlarm]] = {}
        # trait name -> trait value -> alarms with an eq item on it
        self.by_trait: dict[str, dict[str, dict[str, CompiledAlarm]]] = {}
        self.exact: dict[str, dict[str, CompiledAlarm]] = {}
        self.wild: dict[str, CompiledAlarm] = {}
        self._wild_cache: dict[str, tuple[CompiledAlarm, ...]] = {}

    def __len__(self) -> int:
        return (
            sum(len(v) for v in self.by_resource.values())
            + sum(len(b) for t in self.by_trait.values() for b in t.values())
            + sum(len(v) for v in self.exact.values())
            + len(self.wild)
        )

    def _table(self, c: CompiledAlarm) -> tuple[dict[str, dict[str, CompiledAlarm]], str] | None:
        if c.index_key is not None:
            kind, value = c.index_key
            if kind == "resource":
                return self.by_resource, value
            return self.by_trait.setdefault(kind, {}), value
        if c.exact_type is not None:
            return self.exact, c.exact_type
        return None

    def add(self, c: CompiledAlarm) -> None:
        where = self._table(c)
        if where is None:
            self.wild[c.alarm_id] = c
            self._wild_cache.clear()
            return
        table, key = where
        table.setdefault(key, {})[c.alarm_id] = c

    def remove(self, c: CompiledAlarm) -> None:
        where = self._table(c)
        if where is None:
            self.wild.pop(c.alarm_id, None)
            self._wild_cache.clear()
            return
        table, key = where
        bucket = table.get(key)
        if bucket is not None:
            bucket.pop(c.alarm_id, None)
            if not bucket:
                del table[key]
        if (
            c.index_key is not None
            and c.index_key[0] != "resource"
            and not self.by_trait.get(c.index_key[0])
        ):
            self.by_trait.pop(c.index_key[0], None)

    def wildcard_for(self, event_type: str) -> tuple[CompiledAlarm, ...]:
        hits = self._wild_cache.get(event_type)
        if hits is None:
            hits = tuple(c for c in self.wild.values() if c.type_matches(event_type))
            if len(self._wild_cache) > 4096:
                self._wild_cache.clear()
            self._wild_cache[event_type] = hits
        return hits


class AlarmIndex:
    """Every enabled event alarm, compiled and indexed per project. Pure, no I/O."""

    def __init__(self) -> None:
        self.by_id: dict[str, CompiledAlarm] = {}
        self.projects: dict[str, ProjectIndex] = {}
        self.admin = ProjectIndex()

    def __len__(self) -> int:
        return len(self.by_id)

    def load(self, alarms: Iterable[Alarm]) -> None:
        self.by_id.clear()
        self.projects.clear()
        self.admin = ProjectIndex()
        for alarm in alarms:
            self.upsert(alarm)

    def upsert(self, alarm: Alarm) -> None:
        """Add or replace; an older definition than the one indexed is ignored."""
        current = self.by_id.get(alarm.alarm_id)
        if current is not None:
            if current.alarm.generation > alarm.generation:
                return
            self._unlink(current)
        if not alarm.enabled or alarm.type != EVENT:
            return
        compiled = compile_alarm(alarm)
        self.by_id[alarm.alarm_id] = compiled
        project = self.projects.get(alarm.project_id)
        if project is None:
            project = self.projects[alarm.project_id] = ProjectIndex()
        project.add(compiled)
        if alarm.admin:
            self.admin.add(compiled)

    def remove(self, alarm_id: str) -> None:
        current = self.by_id.get(alarm_id)
        if current is not None:
            self._unlink(current)

    def _unlink(self, c: CompiledAlarm) -> None:
        del self.by_id[c.alarm_id]
        project = self.projects.get(c.alarm.project_id)
        if project is not None:
            project.remove(c)
            if not len(project):
                del self.projects[c.alarm.project_id]
        if c.alarm.admin:
            self.admin.remove(c)

    def set_state(self, alarm_id: str, state: str) -> None:
        current = self.by_id.get(alarm_id)
        if current is not None:
            current.state = state

    def candidates(self, envelope: Envelope) -> list[CompiledAlarm]:
        project_id = envelope.project_id or event_project(envelope)
        index = self.projects.get(project_id) if project_id else self.admin
        if index is None:
            return []
        found: list[CompiledAlarm] = []
        traits = envelope.traits
        by_resource = index.by_resource
        if by_resource:
            rid = envelope.resource_id
            if rid:
                bucket = by_resource.get(rid)
                if bucket:
                    found.extend(bucket.values())
            for key in RESOURCE_TRAITS:
                value = traits.get(key)
                if value and value != rid:
                    bucket = by_resource.get(str(value))
                    if bucket:
                        found.extend(bucket.values())
        for trait, values in index.by_trait.items():
            value = traits.get(trait)
            if value is not None:
                bucket = values.get(value if type(value) is str else str(value))
                if bucket:
                    found.extend(bucket.values())
        bucket = index.exact.get(envelope.event_type)
        if bucket:
            found.extend(bucket.values())
        if index.wild:
            found.extend(index.wildcard_for(envelope.event_type))
        return found

    def matching(self, envelope: Envelope) -> list[CompiledAlarm]:
        """The evaluation step: alarms this event fires now (disabled ones are not indexed)."""
        event_type = envelope.event_type
        traits = envelope.traits
        hits = []
        for c in self.candidates(envelope):
            if c.state == ALARM and not c.repeat:
                continue
            exact = c.exact_type
            if exact is not None:
                if exact != event_type:
                    continue
            elif not c.type_matches(event_type):
                continue
            if c.query_matches(traits, envelope):
                hits.append(c)
        return hits


def _apply(index: AlarmIndex, alarm_id: str, alarm: Alarm | None) -> None:
    if alarm is None:
        index.remove(alarm_id)
        return
    current = index.by_id.get(alarm_id)
    if current is None or current.alarm.generation <= alarm.generation:
        index.upsert(alarm)  # compiled with the alarm's current state


class AlarmEvaluator:
    """The role: consume notifications, evaluate through the index, fire by compare-and-set."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        service: AlarmService,
        notifier: AlarmNotifier,
        *,
        resync_interval: float = 300.0,
        record_history: bool = True,
    ) -> None:
        self.store = store
        self.bus = bus
        self.service = service
        self.notifier = notifier
        self.resync_interval = resync_interval
        self.record_history = record_history
        self.index = AlarmIndex()
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loaded = False
        self._changes_during_build: list[tuple[str, Alarm | None]] | None = None
        self._queued: list[_FireRequest] = []
        self._committer: asyncio.Task[None] | None = None
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

    async def stop(self) -> None:
        for sub in self._subscriptions:
            await sub.unsubscribe()
        self._subscriptions.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

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
            for alarm_id, changed in self._changes_during_build:
                _apply(fresh, alarm_id, changed)
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

    def on_change(self, alarm_id: str, alarm: Alarm | None) -> None:
        """Synchronous, in-process: the API's change is visible to the next event."""
        _apply(self.index, alarm_id, alarm)
        if self._changes_during_build is not None:
            self._changes_during_build.append((alarm_id, alarm))

    async def _on_alarm_change(self, envelope: Envelope) -> None:
        """Another process (or this one) changed an alarm: re-read it unless already current."""
        alarm_id = envelope.traits.get("alarm_id")
        if not alarm_id:
            return
        current = self.index.by_id.get(alarm_id)
        if (
            current is not None
            and envelope.event_type != "alarm.deletion"
            and current.alarm.generation == envelope.traits.get("generation")
            and current.state == envelope.traits.get("state")
        ):
            return
        if envelope.event_type == "alarm.deletion":
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

    async def handle(self, envelope: Envelope) -> None:
        if envelope.event_type.startswith("alarm."):
            return  # our own change notifications never fire alarms (no loops)
        trace = profiled_trace(envelope)  # the VM-error path only (profiler)
        intake = time.time_ns() / 1e9 if trace is not None else 0.0
        started = time.perf_counter()
        hits = self.index.matching(envelope)
        EVAL_SECONDS.observe(time.perf_counter() - started)
        EVALUATED.inc()
        if hits:  # the profile follows the events that lead to an alarm
            _stamp(trace, "T06", t=intake, event_type=envelope.event_type)
            _stamp(trace, "T07", alarms=len(hits))
        for compiled in hits:
            try:
                await self.fire(compiled, envelope)
            except Exception:
                log.exception(
                    "failed to fire alarm",
                    extra={"alarm_id": compiled.alarm_id, "message_id": envelope.message_id},
                )
                raise

    async def fire(
        self, compiled: CompiledAlarm, envelope: Envelope, *, retry: bool = True
    ) -> bool:
        """Fire one alarm by compare-and-set; True when this call moved it to ``alarm``.

        Fires go through group commit: every fire requested while a commit is running shares
        the next transaction, so a burst (one fault's 50 VM alarms) costs a few commits, not
        one each. The caller returns only after its fire committed, so the bus acknowledges
        the event only then.
        """
        request = _FireRequest(compiled, envelope, asyncio.get_running_loop().create_future())
        self._queued.append(request)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="alarm-fire")
        outcome = await request.done
        alarm = compiled.alarm
        if outcome.fired is None:
            CAS_LOST.inc()
            self.on_change(alarm.alarm_id, outcome.fresh)
            fresh = outcome.fresh
            stale = fresh is not None and (
                fresh.generation != alarm.generation or fresh.state != compiled.state
            )
            if retry and stale:
                again = self.index.by_id.get(alarm.alarm_id)
                if again is not None and again.matches(
                    envelope.event_type, envelope.traits, envelope
                ):
                    return await self.fire(again, envelope, retry=False)
            return False
        self.on_change(alarm.alarm_id, outcome.fired)
        FIRED.inc()
        trace = profiled_trace(envelope)
        _stamp(trace, "T08", alarm_id=alarm.alarm_id)
        log.info(
            "alarm fired",
            extra={
                "alarm_id": alarm.alarm_id,
                "message_id": envelope.message_id,
                "event_type": envelope.event_type,
            },
        )
        self.notifier.notify(
            outcome.fired,
            outcome.previous or compiled.state,
            ALARM,
            outcome.reason,
            outcome.reason_data,
            trace=trace,
        )
        return True

    async def _commit_queued(self) -> None:
        """Commit queued fires, a batch per transaction, until none is left."""
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                outcomes = await self._fire_batch(batch)
            except Exception as exc:  # every caller sees it; the bus redelivers their events
                for request in batch:
                    if not request.done.done():
                        request.done.set_exception(exc)
                continue
            FIRE_BATCH.observe(len(batch))
            for request, outcome in zip(batch, outcomes, strict=True):
                if not request.done.done():
                    request.done.set_result(outcome)

    async def _fire_batch(self, batch: list[_FireRequest]) -> list[_FireOutcome]:
        outcomes: list[_FireOutcome] = []
        now = utcnow()
        async with self.store.uow() as uow:
            repo = AlarmRepository(uow)
            for request in batch:
                alarm = request.compiled.alarm
                reason, reason_data = fire_reason(alarm, request.envelope)
                expected = request.compiled.state  # this process's belief; the store decides
                if not await repo.fire(alarm.alarm_id, alarm.generation, expected, reason, now):
                    outcomes.append(
                        _FireOutcome(
                            None, None, await repo.get(alarm.alarm_id), reason, reason_data
                        )
                    )
                    continue
                fired = alarm.with_state(ALARM, reason, now)
                if expected != ALARM or alarm.repeat_actions:
                    if self.record_history:
                        await repo.record_change(
                            alarm.alarm_id,
                            STATE_TRANSITION,
                            {"state": ALARM, "transition_reason": reason},
                            at=now,
                            user_id=None,
                            project_id=None,
                            on_behalf_of=alarm.project_id,
                            severity=alarm.severity,
                        )
                    uow.emit(
                        change_envelope(
                            STATE_TRANSITION, fired, {"state": ALARM, "previous": expected}
                        )
                    )
                outcomes.append(_FireOutcome(fired, expected, None, reason, reason_data))
            await uow.commit()
        return outcomes


@dataclass
class _FireOutcome:
    """What one fire did: ``fired`` is the new alarm, or None when the compare-and-set lost
    (then ``fresh`` is the store's current row)."""

    fired: Alarm | None
    previous: str | None
    fresh: Alarm | None
    reason: str
    reason_data: dict[str, Any]


@dataclass
class _FireRequest:
    compiled: CompiledAlarm
    envelope: Envelope
    done: asyncio.Future[_FireOutcome]
