"""Journal sync to the SDN controller (networking-odl v2's design).

- ``JournalRecorder``: a pre-commit hook writing one journal row per network/subnet/port
  change, in the transaction of the change.
- ``ConnectionMonitor``: STARTING / NORMAL / DISCONNECTED / ERROR from the controller's
  answers and a periodic probe; connection errors back off 0.1 s -> ``backoff_max``.
- ``JournalSyncer``: sync loops in every process. Post-commit fast path (a wake-up) and a
  periodic kick (``sync_timeout``). Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; independent objects go out concurrently, one object's rows strictly in order.
- ``JournalMaintenance``: a singleton role (lease) that resets stuck rows, deletes completed
  rows, recovers failed rows by asking the controller, and runs full sync
  (NULL -> CHECKING -> OUTOFSYNC -> SYNCING -> NORMAL) at first start, after an outage, on
  schedule and on request.
- ``JournalService``: what the API and CLI see (status, rows, retry, cleanup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from stateward.config import JournalConfig
from stateward.domain import journal as rules
from stateward.domain.errors import Conflict, NotFound
from stateward.domain.events import Envelope, utcnow
from stateward.domain.journal import (
    FullSyncState,
    JournalEntry,
    MonitorState,
    Operation,
    Outcome,
    Recovery,
    RowState,
)
from stateward.sdn.backend import (
    ControllerBackend,
    ControllerError,
    ControllerUnauthorized,
    ControllerUnavailable,
)
from stateward.services.leases import SingletonRole
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.journal import JournalRepository
from stateward.store.repositories.network import NetworkRepository

log = logging.getLogger(__name__)

SYNCED = Counter(
    "stateward_journal_rows_synced_total",
    "Journal rows sent to the controller, by outcome",
    ["object_type", "operation", "outcome"],
)
RECORDED = Counter("stateward_journal_rows_recorded_total", "Journal rows recorded", ["source"])
SEND_SECONDS = Histogram(
    "stateward_journal_send_seconds",
    "Time of one controller request",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
CONNECTION_STATE = Gauge(
    "stateward_journal_connection_state", "1 for the monitor's current state", ["state"]
)
FULL_SYNC_STATE = Gauge(
    "stateward_journal_full_sync_state", "1 for full sync's current state", ["state"]
)
ROWS = Gauge("stateward_journal_rows", "Journal rows by state (at the last count)", ["state"])
FULL_SYNC_FIXES = Counter(
    "stateward_journal_full_sync_fixes_total", "Rows full sync recorded to heal", ["operation"]
)

EVENT = re.compile(r"^(network|subnet|port|router|floatingip)\.(create|update|delete)\.end$")
FULL_SYNC = "full_sync"
FULL_SYNC_REQUEST = "full_sync_request"
MONITOR_PREFIX = "monitor:"
HISTORY = 50
CHECK_ATTEMPTS = 5
RECHECK_AFTER = 5.0  # s before objects that were busy at a full sync are checked again
COALESCE = 0.001  # s the dispatcher waits after a wake-up for more answers to arrive
CLOCK_MARGIN = 1.0  # s; rows completed this close to a controller read are rechecked


def journal_items(events: list[Envelope]) -> list[tuple[str, str, Operation, dict[str, Any]]]:
    """The journal rows a transaction's events call for, in order.

    Deleting a network deletes its subnets in the store without their own events; the journal
    records those subnet deletes first, so the controller is told about each.
    """
    items: list[tuple[str, str, Operation, dict[str, Any]]] = []
    for event in events:
        match = EVENT.match(event.event_type)
        if not match:
            continue
        kind, action = match.group(1), Operation(match.group(2))
        body = event.payload.get(kind)
        if not isinstance(body, dict) or not body.get("id"):
            continue
        if kind == "network" and action is Operation.DELETE:
            for subnet_id in body.get("subnets") or []:
                items.append(
                    (
                        "subnet",
                        subnet_id,
                        Operation.DELETE,
                        {"id": subnet_id, "network_id": body["id"]},
                    )
                )
        items.append((kind, str(body["id"]), action, dict(body)))
    return items


class JournalRecorder:
    """The pre-commit hook: journal rows commit (or vanish) with the change they record."""

    async def __call__(self, uow: UnitOfWork, events: list[Envelope]) -> None:
        items = journal_items(events)
        if not items:
            return
        repo = JournalRepository(uow)
        await repo.lock_objects(uuid for _, uuid, _, _ in items)
        now = utcnow()
        for object_type, uuid, operation, data in items:
            await repo.record(object_type, uuid, operation, data, now)
        RECORDED.labels("api").inc(len(items))


# The connection monitor ----------------------------------------------------------------------

TransitionListener = Callable[[MonitorState, MonitorState, str], None]


class ConnectionMonitor:
    def __init__(self, backend: ControllerBackend, config: JournalConfig) -> None:
        self.backend = backend
        self.config = config
        self.state = MonitorState.STARTING
        self.since = utcnow()
        self.reason = "starting"
        self.backoff: float | None = None
        self.transitions: list[dict[str, Any]] = []
        self._usable = asyncio.Event()
        self._usable.set()  # STARTING: workers try; their answers settle the state
        self._probe_now = asyncio.Event()
        self._listeners: list[TransitionListener] = []
        self._task: asyncio.Task[None] | None = None
        self._set_gauge()

    def add_listener(self, listener: TransitionListener) -> None:
        self._listeners.append(listener)

    def _set_gauge(self) -> None:
        for state in MonitorState:
            CONNECTION_STATE.labels(str(state)).set(1 if state is self.state else 0)

    def _transition(self, new: MonitorState, reason: str) -> None:
        if new is self.state:
            return
        old, self.state, self.since, self.reason = self.state, new, utcnow(), reason
        self.transitions.append({"from": str(old), "to": str(new), "at": self.since.isoformat()})
        del self.transitions[:-HISTORY]
        if new in (MonitorState.DISCONNECTED, MonitorState.ERROR):
            self._usable.clear()
            self._probe_now.set()
        else:
            self._usable.set()
        if new is MonitorState.NORMAL:
            self.backoff = None
        self._set_gauge()
        log.warning(
            "controller connection %s -> %s",
            old,
            new,
            extra={"from_state": str(old), "to_state": str(new), "reason": reason},
        )
        for listener in self._listeners:
            try:
                listener(old, new, reason)
            except Exception:
                log.exception("monitor listener failed")

    # what the sync workers report
    def succeeded(self) -> None:
        if self.state is not MonitorState.NORMAL:
            self._transition(MonitorState.NORMAL, "controller answered")

    def unavailable(self, reason: str) -> None:
        self._transition(MonitorState.DISCONNECTED, reason)

    def errored(self, reason: str) -> None:
        self._transition(MonitorState.ERROR, reason)

    @property
    def usable(self) -> bool:
        return self._usable.is_set()

    async def wait_usable(self) -> None:
        await self._usable.wait()

    def view(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "since": self.since.isoformat(),
            "reason": self.reason,
            "backoff": self.backoff,
            "transitions": list(self.transitions),
        }

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="journal-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def probe_once(self) -> None:
        try:
            await self.backend.probe()
        except ControllerUnauthorized as exc:
            self.errored(str(exc))
        except ControllerUnavailable as exc:
            self.unavailable(str(exc))
        except ControllerError as exc:
            self.errored(str(exc))
        else:
            self.succeeded()

    async def _run(self) -> None:
        while True:
            if self.state in (MonitorState.DISCONNECTED, MonitorState.ERROR):
                self.backoff = rules.next_backoff(
                    self.backoff, self.config.backoff_initial, self.config.backoff_max
                )
                delay = self.backoff
            else:
                delay = self.config.probe_interval
            self._probe_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_now.wait(), delay)
                if self.state is not MonitorState.NORMAL and self.backoff is None:
                    # just disconnected: first retry after the initial backoff
                    continue
            try:
                await self.probe_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller probe failed unexpectedly")


# The sync workers ----------------------------------------------------------------------------


async def send_row(backend: ControllerBackend, entry: JournalEntry) -> None:
    if entry.operation is Operation.CREATE:
        await backend.create(entry.object_type, entry.data)
    elif entry.operation is Operation.UPDATE:
        await backend.update(entry.object_type, entry.object_uuid, entry.data)
    else:
        await backend.delete(entry.object_type, entry.object_uuid)


class JournalSyncer:
    """One dispatcher per process keeps up to ``max_in_flight`` rows at the controller.

    Each pass is one transaction: record the outcomes of the rows that came back, then claim
    as many eligible rows as there is room for (their predecessors just completed in the
    same transaction, so an object's next row goes out as soon as the previous one is done).
    Every row is sent by its own task; a slow answer holds up nothing but its own object.
    """

    def __init__(
        self,
        store: Store,
        backend: ControllerBackend,
        monitor: ConnectionMonitor,
        config: JournalConfig,
    ) -> None:
        self.store = store
        self.backend = backend
        self.monitor = monitor
        self.config = config
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._rows: dict[int, JournalEntry] = {}
        self._done: list[tuple[JournalEntry, Outcome]] = []
        monitor.add_listener(self._on_monitor)
        store.add_commit_listener(lambda _rows: self.wake())

    def _on_monitor(self, _old: MonitorState, new: MonitorState, _reason: str) -> None:
        if new in (MonitorState.NORMAL, MonitorState.STARTING):
            self.wake()

    def wake(self) -> None:
        self._kick.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="journal-sync")

    async def stop(self, grace: float = 2.0) -> None:
        """Stop claiming, give rows at the controller ``grace`` seconds to come back, put the
        others back to pending (no retry counted), and record every outcome."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        in_flight = dict(self._in_flight)
        if in_flight:
            await asyncio.wait(in_flight.values(), timeout=grace)
        for seqnum, task in in_flight.items():
            if not task.done():
                task.cancel()
                self._done.append((self._rows[seqnum], Outcome.CONNECTION_ERROR))
        await asyncio.gather(*in_flight.values(), return_exceptions=True)
        try:
            await self._pass(claim=False)
        except Exception:
            log.warning("could not record the last outcomes; maintenance will reset those rows")

    async def _loop(self) -> None:
        while True:
            try:
                self._kick.clear()
                usable = self.monitor.usable
                claimed = await self._pass(claim=usable)
                if usable and claimed >= self.config.batch_size:
                    continue  # there may be more eligible rows right now
                timeout = self.config.sync_timeout if usable else 0.5
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout)
                    # Let answers arriving together share one transaction.
                    await asyncio.sleep(COALESCE)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("journal sync pass failed; retrying")
                await asyncio.sleep(min(1.0, self.config.sync_timeout))

    async def _pass(self, *, claim: bool) -> int:
        """Finish what came back, claim what fits; returns how many rows were claimed."""
        done, self._done = self._done, []
        room = self.config.max_in_flight - len(self._in_flight) if claim else 0
        if not done and room <= 0:
            return 0
        now = utcnow()
        rows: list[JournalEntry] = []
        try:
            async with self.store.uow() as uow:
                repo = JournalRepository(uow)
                if done:
                    await self._finish(repo, done, now)
                if room > 0:
                    rows = await repo.claim(min(room, self.config.batch_size), now)
                await uow.commit()
        except BaseException:
            self._done = done + self._done  # record them at the next pass
            raise
        for row in rows:
            self._rows[row.seqnum] = row
            self._in_flight[row.seqnum] = asyncio.create_task(self._attempt(row))
        return len(rows)

    async def _finish(
        self, repo: JournalRepository, done: list[tuple[JournalEntry, Outcome]], now: Any
    ) -> None:
        updates = []
        for row, outcome in done:
            update = rules.after_attempt(row.retry_count, outcome, self.config.retry_count)
            updates.append((row, update.state, update.retry_count))
            if update.state is RowState.FAILED:
                log.error(
                    "journal row failed after %s tries",
                    update.retry_count,
                    extra={"seqnum": row.seqnum, "object_uuid": row.object_uuid},
                )
        fenced = len(updates) - await repo.finish_many(updates, now)
        if fenced:
            log.warning("%s rows were reset while in flight; their answers were ignored", fenced)

    async def _attempt(self, row: JournalEntry) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await send_row(self.backend, row)
        except asyncio.CancelledError:
            self._in_flight.pop(row.seqnum, None)
            self._rows.pop(row.seqnum, None)
            raise
        except ControllerUnauthorized as exc:
            self.monitor.errored(str(exc))
            outcome = Outcome.CONNECTION_ERROR
        except ControllerUnavailable as exc:
            self.monitor.unavailable(str(exc))
            outcome = Outcome.CONNECTION_ERROR
        except ControllerError as exc:
            self.monitor.succeeded()  # it answered: the connection is fine
            log.warning(
                "controller refused a journal row",
                extra={"seqnum": row.seqnum, "status": exc.status, "error": exc.message},
            )
            outcome = Outcome.ERROR
        except Exception:
            log.exception("journal row send crashed", extra={"seqnum": row.seqnum})
            outcome = Outcome.ERROR
        else:
            self.monitor.succeeded()
            outcome = Outcome.SUCCESS
        SEND_SECONDS.observe(loop.time() - started)
        SYNCED.labels(row.object_type, str(row.operation), str(outcome)).inc()
        self._in_flight.pop(row.seqnum, None)
        self._rows.pop(row.seqnum, None)
        self._done.append((row, outcome))
        self._kick.set()


class InOrderSyncer:
    """networking-odl's behaviour, kept as the benchmark's baseline: one row at a time, the
    oldest pending row first, in one loop."""

    def __init__(self, store: Store, backend: ControllerBackend, retry_count: int) -> None:
        self.store = store
        self.backend = backend
        self.retry_count = retry_count

    async def drain(self) -> int:
        done = 0
        while True:
            async with self.store.uow() as uow:
                repo = JournalRepository(uow)
                row = await repo.oldest_pending()
                if row is None:
                    await uow.commit()
                    return done
                await repo.set_state(
                    row.seqnum, RowState.PROCESSING, expected=[RowState.PENDING], now=utcnow()
                )
                await uow.commit()
            try:
                await send_row(self.backend, row)
                state, retries = RowState.COMPLETED, row.retry_count
            except ControllerUnavailable:
                state, retries = RowState.PENDING, row.retry_count
            except ControllerError:
                update = rules.after_attempt(row.retry_count, Outcome.ERROR, self.retry_count)
                state, retries = update.state, update.retry_count
            async with self.store.uow() as uow:
                entry = await JournalRepository(uow).get(row.seqnum)
                assert entry is not None
                await JournalRepository(uow).finish(entry, state, retries, utcnow())
                await uow.commit()
            done += 1


# Maintenance: the singleton role -------------------------------------------------------------


async def store_snapshot(uow: UnitOfWork) -> dict[str, dict[str, dict[str, Any]]]:
    """The store's networks, subnets and ports as the controller should have them."""
    from stateward.services.network import network_view, port_view, subnet_view

    repo = NetworkRepository(uow)
    return {
        "network": {n.id: network_view(n) for n in await repo.list_networks()},
        "subnet": {s.id: subnet_view(s) for s in await repo.list_subnets()},
        "port": {p.id: port_view(p) for p in await repo.list_ports()},
    }


SYNCED_TYPES = ("network", "subnet", "port")


class JournalMaintenance:
    def __init__(
        self,
        store: Store,
        backend: ControllerBackend,
        monitor: ConnectionMonitor,
        syncer: JournalSyncer | None,
        config: JournalConfig,
    ) -> None:
        self.store = store
        self.backend = backend
        self.monitor = monitor
        self.syncer = syncer
        self.config = config
        self._outage_over = False
        self.recheck = False
        monitor.add_listener(self._on_monitor)

    def _on_monitor(self, old: MonitorState, new: MonitorState, _reason: str) -> None:
        if old in (MonitorState.DISCONNECTED, MonitorState.ERROR) and new is MonitorState.NORMAL:
            self._outage_over = True

    async def run(self) -> None:
        """The body run under the lease."""
        loop = asyncio.get_running_loop()
        last_heavy = loop.time()
        last_full = loop.time()
        async with self.store.uow(readonly=True) as uow:
            current = await JournalRepository(uow).get_status(FULL_SYNC)
        pending_full: str | None = "first start" if current is None else None
        last_canary = loop.time()
        if current is not None and current[0] != str(FullSyncState.NORMAL):
            pending_full = "interrupted full sync"
        while True:
            try:
                await self.reset_stuck()
                if self._outage_over:
                    self._outage_over = False
                    pending_full = "controller back after an outage"
                if await self._take_request():
                    pending_full = "requested"
                if self.recheck and loop.time() - last_full >= RECHECK_AFTER:
                    self.recheck = False
                    pending_full = pending_full or "recheck of objects busy at the last check"
                if loop.time() - last_full >= self.config.full_sync_interval:
                    pending_full = pending_full or "scheduled"
                if (
                    not pending_full
                    and self.monitor.usable
                    and loop.time() - last_canary >= self.config.probe_interval
                ):
                    last_canary = loop.time()
                    if await self._canary_missing():
                        pending_full = "controller cold start (canary missing)"
                if pending_full and self.monitor.usable:
                    await self.full_sync(pending_full)
                    pending_full = None
                    last_full = loop.time()
                if loop.time() - last_heavy >= self.config.maintenance_interval:
                    last_heavy = loop.time()
                    await self.cleanup()
                    await self.recover_failed()
                await self.count_rows()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("journal maintenance pass failed")
            await asyncio.sleep(self.config.maintenance_tick)

    async def _canary_missing(self) -> bool:
        """A controller that restarted empty (cold start, no persistence) between two probes
        has lost the canary network full sync leaves on it."""
        try:
            return await self.backend.get("network", rules.CANARY_NETWORK_ID) is None
        except (ControllerUnavailable, ControllerError):
            return False  # the monitor deals with that; an outage triggers a full sync anyway

    async def _plant_canary(self) -> None:
        try:
            if await self.backend.get("network", rules.CANARY_NETWORK_ID) is None:
                await self.backend.create("network", dict(rules.CANARY_NETWORK))
        except (ControllerUnavailable, ControllerError) as exc:
            log.warning("could not plant the canary network: %s", exc)

    async def _take_request(self) -> bool:
        async with self.store.uow() as uow:
            repo = JournalRepository(uow)
            request = await repo.get_status(FULL_SYNC_REQUEST)
            if request is None or request[0] != "requested":
                return False
            await repo.put_status(FULL_SYNC_REQUEST, "taken", request[2], utcnow())
            await uow.commit()
        return True

    async def count_rows(self) -> dict[str, int]:
        async with self.store.uow(readonly=True) as uow:
            counts = await JournalRepository(uow).counts()
        for state, n in counts.items():
            ROWS.labels(state).set(n)
        return counts

    async def reset_stuck(self) -> list[int]:
        now = utcnow()
        async with self.store.uow() as uow:
            reset = await JournalRepository(uow).reset_stuck(
                now - timedelta(seconds=self.config.processing_timeout), now
            )
            await uow.commit()
        if reset:
            log.warning("reset %s stuck journal rows to pending", len(reset), extra={"rows": reset})
            if self.syncer:
                self.syncer.wake()
        return reset

    async def cleanup(self, retention: float | None = None) -> int:
        keep = self.config.completed_rows_retention if retention is None else retention
        if keep < 0:
            return 0
        now = utcnow()
        async with self.store.uow() as uow:
            repo = JournalRepository(uow)
            deleted = await repo.delete_completed(now - timedelta(seconds=keep))
            await repo.delete_statuses(MONITOR_PREFIX, now - timedelta(days=1))
            await uow.commit()
        if deleted:
            log.info("deleted %s completed journal rows", deleted)
        return deleted

    async def recover_failed(self) -> dict[int, str]:
        """Ask the controller what it has for each failed row and act on the answer."""
        async with self.store.uow(readonly=True) as uow:
            failed = await JournalRepository(uow).list_rows(state=RowState.FAILED, limit=500)
        done: dict[int, str] = {}
        for row in failed:
            try:
                exists = await self.backend.get(row.object_type, row.object_uuid) is not None
            except (ControllerUnavailable, ControllerError) as exc:
                log.info("cannot recover row %s yet: %s", row.seqnum, exc)
                continue
            action = rules.recover(row.operation, exists)
            async with self.store.uow() as uow:
                repo = JournalRepository(uow)
                if action is Recovery.COMPLETE:
                    ok = await repo.set_state(
                        row.seqnum, RowState.COMPLETED, expected=[RowState.FAILED], now=utcnow()
                    )
                else:
                    if action is Recovery.RECREATE:
                        await repo.set_operation(row.seqnum, Operation.CREATE)
                    ok = await repo.set_state(
                        row.seqnum,
                        RowState.PENDING,
                        expected=[RowState.FAILED],
                        now=utcnow(),
                        reset_retries=True,
                    )
                await uow.commit()
            if ok:
                done[row.seqnum] = str(action)
                log.info("recovered failed row %s: %s", row.seqnum, action)
        if done and self.syncer:
            self.syncer.wake()
        return done

    # full sync -------------------------------------------------------------------------------
    async def _set_full_sync(self, state: FullSyncState, reason: str, **detail: Any) -> None:
        now = utcnow()
        async with self.store.uow() as uow:
            repo = JournalRepository(uow)
            current = await repo.get_status(FULL_SYNC)
            old = FullSyncState(current[0]) if current else FullSyncState.NULL
            rules.full_sync_step(old, state)
            previous = current[2] if current else {}
            history = list(previous.get("history", []))
            history.append({"state": str(state), "at": now.isoformat(), "reason": reason})
            body = {**previous, **detail, "history": history[-HISTORY:], "reason": reason}
            await repo.put_status(FULL_SYNC, str(state), body, now)
            await uow.commit()
        for s in FullSyncState:
            FULL_SYNC_STATE.labels(str(s)).set(1 if s is state else 0)
        log.info("full sync %s -> %s (%s)", old, state, reason, extra={"reason": reason})

    async def full_sync(self, reason: str, *, wait: float = 120.0) -> dict[str, int]:
        """Compare the controller with the store and record the rows that make them equal."""
        await self._set_full_sync(FullSyncState.CHECKING, reason)
        seqnums: list[int] = []
        plan = rules.SyncPlan()
        for attempt in range(CHECK_ATTEMPTS):
            # Rows that completed while the controller was being read make its copy of
            # those objects unreliable; they are left alone and the check is repeated.
            started = utcnow() - timedelta(seconds=CLOCK_MARGIN)
            try:
                theirs = {
                    t: {str(o.get("id")): o for o in await self.backend.list_objects(t)}
                    for t in SYNCED_TYPES
                }
                theirs["network"].pop(rules.CANARY_NETWORK_ID, None)
            except (ControllerUnavailable, ControllerError) as exc:
                log.warning("full sync could not read the controller: %s", exc)
                await self._set_full_sync(FullSyncState.NULL, f"check failed: {exc}")
                return {}
            async with self.store.uow() as uow:
                repo = JournalRepository(uow)
                ours = await store_snapshot(uow)
                raw = rules.plan_full_sync(ours, theirs, busy=[])
                busy = await repo.busy_objects(started)
                plan = rules.plan_full_sync(ours, theirs, busy)
                skipped = raw.size - plan.size
                last_attempt = attempt == CHECK_ATTEMPTS - 1
                # Busy objects usually settle within a second: look again before healing, so
                # one pass heals everything; under constant load heal what is sure, and
                # check the rest again later.
                if not plan.empty and (not skipped or last_attempt):
                    seqnums = await self._record_plan(repo, plan, started)
                await uow.commit()
            if not skipped or last_attempt:
                break
            await asyncio.sleep(CLOCK_MARGIN + 0.5)
        summary = plan.summary()
        self.recheck = bool(skipped)
        if not seqnums:
            await self._plant_canary()
            await self._set_full_sync(FullSyncState.NORMAL, "in sync", last=summary)
            return summary
        RECORDED.labels("full_sync").inc(len(seqnums))
        await self._set_full_sync(FullSyncState.OUTOFSYNC, reason, last=summary)
        await self._set_full_sync(FullSyncState.SYNCING, reason, rows=seqnums[:100])
        if self.syncer:
            self.syncer.wake()
        if await self._wait_done(seqnums, wait):
            await self._plant_canary()
            await self._set_full_sync(FullSyncState.NORMAL, "healed", last=summary)
        else:
            await self._set_full_sync(FullSyncState.OUTOFSYNC, "healing rows not done in time")
        return summary

    async def _record_plan(
        self, repo: JournalRepository, plan: rules.SyncPlan, started: Any
    ) -> list[int]:
        # Lock the objects, then drop any that changed meanwhile: from here on, a change to
        # one of them journals after our row, with newer data.
        touched = [
            body["id"] for _, body in plan.creates + plan.updates + plan.deletes + plan.recreates
        ]
        await repo.lock_objects(touched)
        busy = await repo.busy_objects(started)
        now = utcnow()
        steps: list[tuple[Operation, str, dict[str, Any]]] = []
        steps += [(Operation.DELETE, t, b) for t, b in plan.deletes]
        for object_type, body in plan.recreates:  # wrong where an update cannot reach
            steps += [(Operation.DELETE, object_type, body), (Operation.CREATE, object_type, body)]
        steps += [(Operation.CREATE, t, b) for t, b in plan.creates]
        steps += [(Operation.UPDATE, t, b) for t, b in plan.updates]
        seqnums: list[int] = []
        for operation, object_type, body in steps:
            if body["id"] in busy:
                continue
            seqnums.append(await repo.record(object_type, body["id"], operation, body, now))
            FULL_SYNC_FIXES.labels(str(operation)).inc()
        return seqnums

    async def _wait_done(self, seqnums: list[int], wait: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        remaining = set(seqnums)
        while loop.time() < deadline:
            async with self.store.uow(readonly=True) as uow:
                repo = JournalRepository(uow)
                for seq in list(remaining):
                    row = await repo.get(seq)
                    if row is None or row.state is RowState.COMPLETED:
                        remaining.discard(seq)
            if not remaining:
                return True
            await asyncio.sleep(0.2)
        return False


# What the API and CLI use --------------------------------------------------------------------


class JournalService:
    def __init__(
        self,
        store: Store,
        config: JournalConfig,
        process_id: str,
        monitor: ConnectionMonitor | None = None,
        syncer: JournalSyncer | None = None,
        maintenance: JournalMaintenance | None = None,
        lease: SingletonRole | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.process_id = process_id
        self.monitor = monitor
        self.syncer = syncer
        self.maintenance = maintenance
        self.lease = lease

    async def status(self) -> dict[str, Any]:
        async with self.store.uow(readonly=True) as uow:
            repo = JournalRepository(uow)
            counts = await repo.counts()
            full = await repo.get_status(FULL_SYNC)
            monitors = await repo.statuses(MONITOR_PREFIX)
        for state, n in counts.items():
            ROWS.labels(state).set(n)
        return {
            "enabled": self.config.enabled,
            "controller": self.config.url,
            "process": self.process_id,
            "connection": self.monitor.view() if self.monitor else None,
            "maintenance_leader": bool(self.lease and self.lease.is_leader),
            "rows": counts,
            "full_sync": {
                "state": full[0] if full else str(FullSyncState.NULL),
                "updated_at": full[1].isoformat() if full else None,
                "history": full[2].get("history", []) if full else [],
                "last": full[2].get("last") if full else None,
            },
            "monitors": [
                {
                    "process": name[len(MONITOR_PREFIX) :],
                    "state": state,
                    "since": at.isoformat(),
                    "reason": detail.get("reason"),
                }
                for name, state, at, detail in monitors
            ],
        }

    async def rows(
        self, *, state: RowState | None = None, limit: int = 100, after: int | None = None
    ) -> list[JournalEntry]:
        async with self.store.uow(readonly=True) as uow:
            return await JournalRepository(uow).list_rows(state=state, limit=limit, after=after)

    async def show(self, seqnum: int) -> dict[str, Any]:
        async with self.store.uow(readonly=True) as uow:
            repo = JournalRepository(uow)
            row = await repo.get(seqnum)
            if row is None:
                raise NotFound(f"Journal row {seqnum} could not be found.")
            deps = await repo.dependencies(seqnum)
        return {**row.view(), "depends_on": deps}

    async def retry(self, seqnum: int) -> dict[str, Any]:
        """A failed row goes back to pending with its tries reset (after fixing the cause)."""
        async with self.store.uow() as uow:
            repo = JournalRepository(uow)
            row = await repo.get(seqnum)
            if row is None:
                raise NotFound(f"Journal row {seqnum} could not be found.")
            if not await repo.set_state(
                seqnum,
                RowState.PENDING,
                expected=[RowState.FAILED],
                now=utcnow(),
                reset_retries=True,
            ):
                raise Conflict(f"Journal row {seqnum} is {row.state}, not failed.")
            await uow.commit()
        if self.syncer:
            self.syncer.wake()
        return await self.show(seqnum)

    async def cleanup(self, retention: float | None = None) -> dict[str, Any]:
        """Run maintenance's cleanup now: reset stuck rows, delete old completed rows."""
        maintenance = self.maintenance or JournalMaintenance(
            self.store,
            _NoBackend(),
            ConnectionMonitor(_NoBackend(), self.config),
            None,
            self.config,
        )
        reset = await maintenance.reset_stuck()
        deleted = await maintenance.cleanup(retention)
        return {"reset_to_pending": reset, "deleted_completed": deleted}

    async def request_full_sync(self) -> dict[str, Any]:
        async with self.store.uow() as uow:
            await JournalRepository(uow).put_status(
                FULL_SYNC_REQUEST, "requested", {"by": self.process_id}, utcnow()
            )
            await uow.commit()
        return {"full_sync": "requested"}

    async def publish_monitor(self, old: MonitorState, new: MonitorState, reason: str) -> None:
        async with self.store.uow() as uow:
            await JournalRepository(uow).put_status(
                MONITOR_PREFIX + self.process_id, str(new), {"reason": reason[:500]}, utcnow()
            )
            await uow.commit()


class _NoBackend:
    """Stands in for the controller where only store-side maintenance runs (CLI cleanup)."""

    async def create(self, object_type: str, data: dict[str, Any]) -> None:
        raise ControllerUnavailable("no controller here")

    async def update(self, object_type: str, uuid: str, data: dict[str, Any]) -> None:
        raise ControllerUnavailable("no controller here")

    async def delete(self, object_type: str, uuid: str) -> None:
        raise ControllerUnavailable("no controller here")

    async def get(self, object_type: str, uuid: str) -> dict[str, Any] | None:
        raise ControllerUnavailable("no controller here")

    async def list_objects(self, object_type: str) -> list[dict[str, Any]]:
        raise ControllerUnavailable("no controller here")

    async def probe(self) -> None:
        raise ControllerUnavailable("no controller here")

    async def close(self) -> None:
        return None


class JournalRole:
    """Everything the journal runs in one process: monitor, sync loops, maintenance lease."""

    def __init__(
        self,
        store: Store,
        config: JournalConfig,
        backend: ControllerBackend,
        process_id: str,
        *,
        lease_ttl: float,
        lease_renew: float,
    ) -> None:
        self.backend = backend
        self.monitor = ConnectionMonitor(backend, config)
        self.syncer = JournalSyncer(store, backend, self.monitor, config)
        self.maintenance = JournalMaintenance(store, backend, self.monitor, self.syncer, config)
        self.lease = SingletonRole(
            store,
            "journal-maintenance",
            process_id,
            self.maintenance.run,
            ttl=lease_ttl,
            renew_interval=lease_renew,
        )
        self.service = JournalService(
            store, config, process_id, self.monitor, self.syncer, self.maintenance, self.lease
        )
        self._publish_tasks: set[asyncio.Task[None]] = set()
        self.monitor.add_listener(self._publish)
        store.add_pre_commit_hook(JournalRecorder())

    def _publish(self, old: MonitorState, new: MonitorState, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._publish_safe(old, new, reason))
        self._publish_tasks.add(task)
        task.add_done_callback(self._publish_tasks.discard)

    async def _publish_safe(self, old: MonitorState, new: MonitorState, reason: str) -> None:
        try:
            await self.service.publish_monitor(old, new, reason)
        except Exception:
            log.warning("could not record the monitor state in the store")

    async def start(self) -> None:
        await self.service.publish_monitor(self.monitor.state, self.monitor.state, "starting")
        await self.monitor.start()
        await self.monitor.probe_once()
        await self.syncer.start()
        await self.lease.start()

    async def stop(self) -> None:
        await self.lease.stop()
        await self.syncer.stop()
        await self.monitor.stop()
        for task in list(self._publish_tasks):
            task.cancel()
        await self.backend.close()
