"""The per-chassis agent feed: what each chassis' agent needs, as a snapshot plus ordered changes.

A registry of **views** builds it. A view contributes object kinds to a chassis' snapshot and,
inside every writing transaction, turns the events that transaction emitted into puts and
deletes for the chassis they concern (the ``tunnels`` view: networks, ports and chassis; the L3
agent's ``routers`` view: routers). The service numbers each chassis' changes consecutively and
stores them **in the same transaction** as the change that caused them (a per-chassis outbox):
a process dying after commit loses nothing, and one that dies before commit loses the change
with the entries. The writers' commit phase is serialised by one lock (PostgreSQL advisory lock,
SQLite's single writer), so each chassis' numbers follow commit order across processes.

Agents read it like OVN's southbound monitor: a snapshot at sequence ``N``, then "what came
after ``N``" (HTTP long-poll, or NATS where the server uses it). After commit, the writing
process sends a signal ``agent_feed.<chassis token>`` carrying the new entries (or just their
numbers, for big batches): it wakes long-polls in every server process and is what NATS agents
subscribe to. The signal is only a hint; an agent that misses one sees a gap at the next, or
finds the entries at its next periodic check.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from prometheus_client import Counter, Gauge, Histogram

from stateward.bus.base import Bus, Subscription, subject_matches
from stateward.config import FeedConfig
from stateward.domain.agent_feed import (
    DELETE,
    PUT,
    SIGNAL_PREFIX,
    Change,
    FeedObject,
    signal_subject,
)
from stateward.domain.errors import NotFound
from stateward.domain.events import Envelope, utcnow
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.agent_feed import AgentFeedRepository, Entry
from stateward.store.repositories.chassis import ChassisRepository

log = logging.getLogger(__name__)

RECORDED = Counter("stateward_feed_changes_total", "Feed entries written", ["view"])
SNAPSHOTS = Counter("stateward_feed_snapshots_total", "Feed snapshots served")
RESYNCS = Counter("stateward_feed_resyncs_total", "Feed reads answered 'resync'", ["reason"])
WAITERS = Gauge("stateward_feed_waiters", "Long-polls waiting for feed changes")
RECORD_SECONDS = Histogram(
    "stateward_feed_record_seconds",
    "Time the feed adds to a writing transaction",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


class FeedView(Protocol):
    """One contributor to the chassis' feeds.

    ``kinds`` are the object kinds it owns (unique across views); ``patterns`` the event types
    (NATS syntax) its ``record`` reacts to - transactions with none of them never reach it.
    """

    name: str
    kinds: tuple[str, ...]
    patterns: tuple[str, ...]

    async def snapshot(self, uow: UnitOfWork, chassis: str) -> list[FeedObject]:
        """Every object of this view the chassis needs now."""

    async def record(self, tx: FeedTransaction, events: list[Envelope]) -> None:
        """Inside the writing transaction: route what ``events`` changed to the chassis."""

    async def sync_interest(self, tx: FeedTransaction, chassis: str) -> None:
        """Under the writer lock, before a snapshot: make the interest rows this view routes
        by match the truth for ``chassis`` (a no-op for views that keep none)."""


class BaseView:
    """Defaults for a view that keeps no interest rows (inherit and fill in the rest)."""

    name: str = ""
    kinds: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    async def sync_interest(self, tx: FeedTransaction, chassis: str) -> None:
        return None


@dataclass(frozen=True)
class Batch:
    """The entries one transaction appended to one chassis' log."""

    chassis: str
    epoch: str
    first: int
    last: int
    changes: list[Change]


class FeedTransaction:
    """What a view works with inside a writing transaction.

    ``changed`` compares candidate object forms with their last recorded forms and returns only
    those that differ (an unchanged object costs one read and no lock); ``put``/``delete`` queue
    entries for a chassis; ``repo`` gives the interest rows. The writer lock is taken before the
    first thing that writes.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = AgentFeedRepository(uow)
        self.now = utcnow()
        self._entries: dict[str, list[Entry]] = {}
        self._views: dict[str, str] = {}
        self._locked = False
        self.current_view = ""

    async def lock(self) -> None:
        if not self._locked:
            await self.repo.lock()
            self._locked = True

    async def changed(
        self,
        kind: str,
        candidates: dict[str, dict[str, Any] | None],
        *,
        stored: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]]:
        """key -> (old form, new form) for the candidates whose form changed; records them.

        ``stored`` is the caller's fresh read of the recorded forms, if it has one.
        """
        if not candidates:
            return {}
        if stored is None:
            stored = await self.repo.forms(kind, candidates)
        differ = [k for k, v in candidates.items() if stored.get(k) != v]
        if not differ:
            return {}
        if not self._locked:
            await self.lock()
            stored = await self.repo.forms(kind, differ)  # what committed before we got the lock
        diff = {k: (stored.get(k), candidates[k]) for k in differ if stored.get(k) != candidates[k]}
        await self.repo.save_forms(kind, {k: new for k, (_, new) in diff.items()})
        return diff

    def put(self, chassis: str, kind: str, key: str, data: dict[str, Any]) -> None:
        self._entries.setdefault(chassis, []).append((kind, key, PUT, data))
        self._views[kind] = self.current_view

    def delete(self, chassis: str, kind: str, key: str) -> None:
        self._entries.setdefault(chassis, []).append((kind, key, DELETE, None))
        self._views[kind] = self.current_view

    async def drop(self, chassis: str) -> None:
        await self.lock()
        self._entries.pop(chassis, None)
        await self.repo.drop(chassis)

    def touched(self) -> bool:
        return bool(self._entries)

    async def flush(self) -> list[Batch]:
        """Number and store the queued entries, chassis by chassis."""
        if not self._entries:
            return []
        await self.lock()
        batches = []
        for chassis in sorted(self._entries):
            entries = _collapse(self._entries[chassis])
            epoch, first, last = await self.repo.append(chassis, entries, self.now)
            changes = [Change(first + i, *entry) for i, entry in enumerate(entries)]
            batches.append(Batch(chassis, epoch, first, last, changes))
            for kind, *_ in entries:
                RECORDED.labels(self._views.get(kind, "")).inc()
        self._entries.clear()
        return batches


def _collapse(entries: list[Entry]) -> list[Entry]:
    """Keep the last entry per object, in the order of those last entries."""
    last: dict[tuple[str, str], int] = {}
    for i, (kind, key, _, _) in enumerate(entries):
        last[(kind, key)] = i
    return [entries[i] for i in sorted(last.values())]


@dataclass
class Snapshot:
    chassis: str
    epoch: str
    seq: int
    objects: list[FeedObject]

    def to_dict(self) -> dict[str, Any]:
        return {
            "chassis": self.chassis,
            "epoch": self.epoch,
            "seq": self.seq,
            "objects": [o.to_dict() for o in self.objects],
        }


@dataclass
class Page:
    """An answer to "what came after ``since``": changes, or a request to resync."""

    chassis: str
    epoch: str | None
    seq: int
    changes: list[Change] = field(default_factory=list)
    more: bool = False
    resync: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chassis": self.chassis,
            "epoch": self.epoch,
            "seq": self.seq,
            "changes": [c.to_dict() for c in self.changes],
            "more": self.more,
            "resync": self.resync,
        }


class AgentFeedService:
    """Views, the pre-commit recorder, snapshots, change pages with long-poll, and pruning."""

    def __init__(self, store: Store, bus: Bus, config: FeedConfig) -> None:
        self.store = store
        self.bus = bus
        self.config = config
        self.views: dict[str, FeedView] = {}
        self._patterns: list[str] = ["chassis.delete"]
        self._wakers: dict[str, asyncio.Event] = {}
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self.listeners: list[Callable[[list[Batch]], None]] = []
        store.add_pre_commit_hook(self.record)

    def register(self, view: FeedView) -> None:
        """Add a view (at start-up, before serving). Kinds must not clash."""
        if view.name in self.views:
            raise ValueError(f"feed view {view.name!r} registered twice")
        taken = {k for v in self.views.values() for k in v.kinds}
        if clash := taken & set(view.kinds):
            raise ValueError(f"feed view {view.name!r}: kinds {sorted(clash)} already taken")
        self.views[view.name] = view
        self._patterns = ["chassis.delete", *(p for v in self.views.values() for p in v.patterns)]

    # writing side ----------------------------------------------------------------------------
    async def record(self, uow: UnitOfWork, events: list[Envelope]) -> None:
        """The pre-commit hook: views turn the transaction's events into feed entries."""
        relevant = [
            e for e in events if any(subject_matches(p, e.event_type) for p in self._patterns)
        ]
        if not relevant:
            return
        started = time.perf_counter()
        tx = FeedTransaction(uow)
        for view in self.views.values():
            mine = [
                e for e in relevant if any(subject_matches(p, e.event_type) for p in view.patterns)
            ]
            if mine:
                tx.current_view = view.name
                await view.record(tx, mine)
        for event in relevant:
            if event.event_type == "chassis.delete" and event.resource_id:
                await tx.drop(event.resource_id)  # a new chassis of that name: a new epoch
        if tx.touched():
            batches = await tx.flush()
            uow.after_commit(lambda: self._committed(batches))
        RECORD_SECONDS.observe(time.perf_counter() - started)

    def _committed(self, batches: list[Batch]) -> None:
        for batch in batches:
            self._wake(batch.chassis)
            task = asyncio.ensure_future(self._signal(batch))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        for listener in self.listeners:
            listener(batches)

    async def _signal(self, batch: Batch) -> None:
        inline = len(batch.changes) <= self.config.inline_max
        body = {
            "chassis": batch.chassis,
            "epoch": batch.epoch,
            "first": batch.first,
            "last": batch.last,
            "changes": [c.to_dict() for c in batch.changes] if inline else None,
        }
        try:
            await self.bus.send(signal_subject(batch.chassis), json.dumps(body).encode())
        except Exception:
            log.warning(
                "feed signal not sent; agents catch up at their next check",
                extra={"chassis": batch.chassis},
            )

    # reading side ----------------------------------------------------------------------------
    async def _known(self, uow: UnitOfWork, chassis: str) -> None:
        if await ChassisRepository(uow).get(chassis) is None:
            raise NotFound(f"Chassis {chassis} could not be found.", kind="ChassisNotFound")

    async def snapshot(self, chassis: str) -> Snapshot:
        """Everything the chassis' views hold, with the sequence number it is current at."""
        async with self.store.uow() as uow:
            await self._known(uow, chassis)
            tx = FeedTransaction(uow)
            await tx.lock()
            await tx.repo.ensure_head(chassis, tx.now)
            for view in self.views.values():
                tx.current_view = view.name
                await view.sync_interest(tx, chassis)
            await uow.commit()
        async with self.store.uow(readonly=True) as uow:
            repo = AgentFeedRepository(uow)
            await repo.repeatable_read()
            head = await repo.head(chassis)
            if head is None:  # deleted meanwhile
                raise NotFound(f"Chassis {chassis} could not be found.", kind="ChassisNotFound")
            objects: list[FeedObject] = []
            for view in self.views.values():
                objects.extend(await view.snapshot(uow, chassis))
        SNAPSHOTS.inc()
        return Snapshot(chassis, head[0], head[1], objects)

    async def changes(
        self,
        chassis: str,
        since: int,
        epoch: str | None,
        *,
        limit: int | None = None,
        wait: float = 0.0,
    ) -> Page:
        """Entries after ``since``; with ``wait``, block up to that long for the first one."""
        limit = min(limit or self.config.page_limit, self.config.page_limit)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(wait, 0.0), self.config.max_wait)
        while True:
            waker = self._wakers.setdefault(chassis, asyncio.Event())
            page = await self._page(chassis, since, epoch, limit)
            remaining = deadline - loop.time()
            if page.changes or page.resync or remaining <= 0:
                if page.resync:
                    RESYNCS.labels(page.resync).inc()
                return page
            WAITERS.inc()
            try:
                await asyncio.wait_for(waker.wait(), timeout=remaining)
            except TimeoutError:
                pass
            finally:
                WAITERS.dec()

    async def _page(self, chassis: str, since: int, epoch: str | None, limit: int) -> Page:
        async with self.store.uow(readonly=True) as uow:
            repo = AgentFeedRepository(uow)
            head = await repo.head(chassis)
            if head is None:
                await self._known(uow, chassis)
                return Page(chassis, None, 0, resync="no feed yet")
            current, seq = head
            if epoch is not None and epoch != current:
                return Page(chassis, current, seq, resync="epoch changed")
            if since > seq:
                return Page(chassis, current, seq, resync="ahead of the feed")
            if since == seq:
                return Page(chassis, current, seq)
            changes = await repo.since(chassis, since, limit)
            if not changes or changes[0].seq != since + 1:
                return Page(chassis, current, seq, resync="changes pruned")
        return Page(chassis, current, seq, changes, more=changes[-1].seq < seq)

    def _wake(self, chassis: str) -> None:
        waker = self._wakers.pop(chassis, None)
        if waker is not None:
            waker.set()

    async def _on_signal(self, _subject: str, data: bytes) -> None:
        try:
            chassis = str(json.loads(data)["chassis"])
        except (ValueError, KeyError, TypeError):
            log.warning("undecodable feed signal dropped")
            return
        self._wake(chassis)

    # role ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._sub = await self.bus.listen(f"{SIGNAL_PREFIX}.*", self._on_signal)
        self._tasks.append(asyncio.create_task(self._pruner(), name="feed-pruner"))

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=2)
        for waker in self._wakers.values():
            waker.set()

    async def _pruner(self) -> None:
        while True:
            await asyncio.sleep(self.config.prune_interval)
            try:
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("feed pruning failed")

    async def prune(self) -> int:
        """Delete log entries older than the retention (agents further behind resync)."""
        before = utcnow() - timedelta(seconds=self.config.retention)
        total = 0
        while True:
            async with self.store.uow() as uow:
                deleted = await AgentFeedRepository(uow).prune(before)
                await uow.commit()
            total += deleted
            if deleted < 10_000:
                return total
