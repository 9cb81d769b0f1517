"""The outbox relay: publishes what a transaction committed, right after it committed.

Fast path: the unit of work hands each committed batch to ``on_commit``; the relay publishes it
and marks the rows sent. Safety net: a sweep publishes rows left unsent (a crash between commit
and publish, a bus outage), oldest first. Consumers drop the rare duplicate by message id, and
NATS JetStream drops it at the server too (``Nats-Msg-Id``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from prometheus_client import Counter, Gauge

from stateward.bus.base import Bus
from stateward.domain.events import Envelope, utcnow
from stateward.profiler.hooks import stamp_notified
from stateward.store.db import Store
from stateward.store.repositories.outbox import OutboxRepository

log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "stateward_outbox_published_total", "Notifications relayed to the bus", ["path"]
)
PUBLISH_FAILURES = Counter("stateward_outbox_publish_failures_total", "Relay publish failures")
UNSENT = Gauge("stateward_outbox_unsent", "Outbox rows not yet relayed (at the last sweep)")

BATCH = 500

Rows = list[tuple[int, Envelope]]


class OutboxRelay:
    def __init__(self, store: Store, bus: Bus, *, sweep_interval: float, retention: float) -> None:
        self.store = store
        self.bus = bus
        self.sweep_interval = sweep_interval
        self.retention = retention
        self._pending: asyncio.Queue[Rows | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        store.add_commit_listener(self.on_commit)

    def on_commit(self, rows: list[tuple[int, Envelope]]) -> None:
        self._pending.put_nowait(rows)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._fast_path(), name="outbox-fast-path"),
            asyncio.create_task(self._sweeper(), name="outbox-sweeper"),
        ]

    async def stop(self) -> None:
        """Relay what is queued, then stop; anything left is picked up by the next sweep.

        The fast path is asked to finish (a sentinel after the queued batches) rather than
        cancelled: cancelling it mid-batch left published rows unmarked, to be sent again.
        """
        self._pending.put_nowait(None)
        fast_path = self._tasks[0] if self._tasks else asyncio.ensure_future(self._fast_path())
        if not (await asyncio.wait({fast_path}, timeout=5))[0]:
            log.warning("outbox not fully flushed at shutdown; the sweep will relay the rest")
        for task in [fast_path, *self._tasks]:
            task.cancel()
        await asyncio.gather(fast_path, *self._tasks, return_exceptions=True)

    def _take_all(self, first: Rows) -> tuple[Rows, bool]:
        """The first batch and those queued behind it, and whether ``stop`` was asked."""
        rows = list(first)
        while not self._pending.empty() and len(rows) < BATCH:
            more = self._pending.get_nowait()
            if more is None:
                return rows, True
            rows.extend(more)
        return rows, False

    async def _fast_path(self) -> None:
        while True:
            first = await self._pending.get()
            if first is None:
                return
            rows, stopping = self._take_all(first)
            try:
                await self._relay(rows, path="fast")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox fast path failed; the sweep will retry")
            if stopping:
                return

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sweep failed")

    async def sweep(self) -> int:
        """Relay rows older than one sweep interval that are still unsent; returns how many.

        On PostgreSQL the rows stay locked (``SKIP LOCKED``) while they are published, so two
        processes never relay the same batch. On SQLite the rows are read without holding the
        process's single write lock, published, then marked in a short write transaction, so a
        slow or absent bus never stalls the process's other writes.
        """
        created_before = utcnow() - timedelta(seconds=self.sweep_interval)
        total = 0
        while True:
            if self.store.is_sqlite:
                async with self.store.uow(readonly=True) as uow:
                    rows = await OutboxRepository(uow).unsent(
                        created_before=created_before, limit=BATCH
                    )
                sent = await self._publish(rows, path="sweep") if rows else []
                async with self.store.uow() as uow:
                    await self._finish(OutboxRepository(uow), rows, sent)
                    await uow.commit()
            else:
                async with self.store.uow() as uow:
                    repo = OutboxRepository(uow)
                    rows = await repo.unsent(created_before=created_before, limit=BATCH)
                    sent = await self._publish(rows, path="sweep") if rows else []
                    await self._finish(repo, rows, sent)
                    await uow.commit()
            total += len(sent)
            if not rows or len(sent) < len(rows):
                return total

    async def _finish(
        self, repo: OutboxRepository, rows: list[tuple[int, Envelope]], sent: list[int]
    ) -> None:
        """Mark what was published; when nothing is left, purge old rows and update the gauge."""
        await repo.mark_sent(sent, utcnow())
        if not rows:
            if self.retention >= 0:
                await repo.purge_sent(utcnow() - timedelta(seconds=self.retention))
            UNSENT.set(await repo.count_unsent())

    async def _relay(self, rows: list[tuple[int, Envelope]], *, path: str) -> None:
        sent = await self._publish(rows, path=path)
        if sent:
            async with self.store.uow() as uow:
                await OutboxRepository(uow).mark_sent(sent, utcnow())
                await uow.commit()

    async def _publish(self, rows: list[tuple[int, Envelope]], *, path: str) -> list[int]:
        """Publish a batch concurrently, in commit order; what is marked sent is the prefix
        before the first failure, so a failed row and everything after it are retried.

        The publishes are started in commit order and each puts its message on the wire before
        its first wait (the in-process bus delivers synchronously; NATS buffers the PUB before
        awaiting the JetStream ack), so the order on the bus is the commit order while the acks
        are awaited together: a host fault's hundred notifications cost about one round trip,
        not a hundred. The first row goes alone so any lazy setup (NATS' reply subscription)
        happens before the others start.
        """
        sent: list[int] = []
        results: list[BaseException | None] = []
        stamp_notified(e for _, e in rows)  # profiler T05, just before the first publish
        if rows:
            results.append(await _attempt(self.bus, rows[0][1]))
        if len(rows) > 1 and results[0] is None:
            results += await asyncio.gather(*(_attempt(self.bus, e) for _, e in rows[1:]))
        for (row_id, envelope), error in zip(rows, results, strict=False):
            if error is not None:
                PUBLISH_FAILURES.inc()
                log.warning("publish failed; will retry", extra={"event_type": envelope.event_type})
                break
            sent.append(row_id)
        PUBLISHED.labels(path).inc(len(sent))
        return sent


async def _attempt(bus: Bus, envelope: Envelope) -> BaseException | None:
    try:
        await bus.publish(envelope)
    except Exception as exc:
        return exc
    return None
