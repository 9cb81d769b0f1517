"""Profiles use cases, and the recorder role that writes this process's stamps to the store.

Roles stamp checkpoints with ``stateward.profiler.stamp`` (a log record plus the in-process
sinks). The ``ProfileRecorder`` is such a sink: it only puts the stamp on a queue (never a
database write on the hot path) and a background task writes what accumulated in ONE
transaction per batch. Every server process runs its own recorder into the shared store, so a
profile gathers the checkpoints of every process that handled its trace; a consumer elsewhere
posts its own checkpoints (T09, T10) through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from prometheus_client import Counter

from stateward.config import ProfilerConfig
from stateward.domain.errors import InvalidInput, NotFound
from stateward.domain.events import utcnow
from stateward.profiler.model import BY_NAME, Profile, valid_time
from stateward.profiler.stamp import Stamp, add_sink, remove_sink, valid_trace_id
from stateward.store.db import Store
from stateward.store.repositories.profiles import CheckpointRow, ProfileRepository

log = logging.getLogger(__name__)

RECORDED = Counter(
    "stateward_profiler_checkpoints_recorded_total", "Checkpoints written to the store", ["via"]
)
DROPPED = Counter(
    "stateward_profiler_checkpoints_dropped_total",
    "Stamps dropped because the recorder's queue was full or the store failed",
)

MAX_CHECKPOINTS_PER_REQUEST = 64


def check_trace_id(trace_id: str) -> str:
    if not isinstance(trace_id, str) or not valid_trace_id(trace_id):
        raise InvalidInput(
            "Invalid profile id: 1 to 64 characters among letters, digits and '._:-'."
        )
    return trace_id


def _plain(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Meta as JSON-safe data (a role may stamp a datetime or an id object)."""
    try:
        data = json.loads(json.dumps(dict(meta), default=str))
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ProfileService:
    def __init__(self, store: Store, config: ProfilerConfig) -> None:
        self.store = store
        self.config = config

    async def get(self, trace_id: str) -> Profile:
        check_trace_id(trace_id)
        async with self.store.uow(readonly=True) as uow:
            profile = await ProfileRepository(uow).get(trace_id)
        if profile is None:
            raise NotFound(f"Profile {trace_id} could not be found.")
        return profile

    async def list_profiles(self, *, limit: int = 50, marker: str | None = None) -> list[Profile]:
        async with self.store.uow(readonly=True) as uow:
            repo = ProfileRepository(uow)
            return await repo.load(await repo.list_ids(limit=limit, marker=marker))

    async def post_checkpoints(
        self,
        trace_id: str,
        checkpoints: Any,
        *,
        process: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> tuple[Profile, list[str], list[str]]:
        """Record checkpoints posted for a trace (a consumer's T09/T10, an imported log).

        Returns the profile and which names were recorded now and which were already there
        (the earliest time is kept). Bad input is refused whole, nothing written.
        """
        check_trace_id(trace_id)
        if not isinstance(checkpoints, Mapping) or not checkpoints:
            raise InvalidInput(
                "Invalid input for checkpoints: expected an object of checkpoint name -> "
                'epoch seconds, e.g. {"T09": 1795306991.25}.'
            )
        if len(checkpoints) > MAX_CHECKPOINTS_PER_REQUEST:
            raise InvalidInput("Invalid input for checkpoints: too many checkpoints.")
        rows = []
        for name, value in checkpoints.items():
            if name not in BY_NAME:
                raise InvalidInput(
                    f"Invalid input for checkpoints.{name}: unknown checkpoint "
                    f"(expected one of T00..T10)."
                )
            if not valid_time(value):
                raise InvalidInput(
                    f"Invalid input for checkpoints.{name}: '{value}' is not a time in epoch "
                    "seconds (a positive number)."
                )
            rows.append(CheckpointRow(trace_id, name, float(value), process, _plain(meta or {})))
        async with self.store.uow() as uow:
            repo = ProfileRepository(uow)
            new = await repo.record(rows)
            await uow.commit()
        RECORDED.labels("api").inc(len(new))
        recorded = sorted(name for _trace, name in new)
        kept = sorted(set(checkpoints) - set(recorded))
        return await self.get(trace_id), recorded, kept

    async def record_stamps(self, batch: list[Stamp]) -> int:
        """Write a batch of stamps in one transaction; returns how many were new."""
        rows = [
            CheckpointRow(s.trace_id, s.checkpoint, s.t, s.process, _plain(s.meta))
            for s in batch
            if valid_trace_id(s.trace_id)
        ]
        async with self.store.uow() as uow:
            new = await ProfileRepository(uow).record(rows)
            await uow.commit()
        RECORDED.labels("stamp").inc(len(new))
        return len(new)

    async def purge(self) -> int:
        before = utcnow() - timedelta(seconds=self.config.retention)
        async with self.store.uow() as uow:
            count = await ProfileRepository(uow).purge_before(before)
            await uow.commit()
        return count


class ProfileRecorder:
    """In-process stamp sink: queue, then batched background writes (a role)."""

    def __init__(self, service: ProfileService, config: ProfilerConfig) -> None:
        self.service = service
        self.config = config
        self._queue: asyncio.Queue[Stamp] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._last_purge = 0.0

    def sink(self, record: Stamp) -> None:
        """Called by ``stamp`` in whatever thread stamps; never blocks, never raises."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._put(record)
        else:  # another thread (or another loop): hand it over thread-safely
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._put, record)

    def _put(self, record: Stamp) -> None:
        assert self._queue is not None
        try:
            self._queue.put_nowait(record)
            self._idle.clear()
        except asyncio.QueueFull:
            DROPPED.inc()

    async def start(self) -> None:
        if not self.config.record:
            return
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.create_task(self._run(), name="profile-recorder")
        add_sink(self.sink)

    async def stop(self) -> None:
        remove_sink(self.sink)
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout=5)
        except Exception:
            log.warning("profile recorder not fully flushed at shutdown")
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        self._loop = None

    async def flush(self) -> None:
        """Wait until everything stamped so far is in the store."""
        if self._queue is None:
            return
        await self._idle.wait()

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            first = await queue.get()
            # Let a burst accumulate: one transaction for everything stamped meanwhile.
            await asyncio.sleep(self.config.flush_interval)
            batch = [first]
            while not queue.empty() and len(batch) < self.config.batch_size:
                batch.append(queue.get_nowait())
            try:
                await self.service.record_stamps(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                DROPPED.inc(len(batch))
                log.exception("profile recorder could not write %d checkpoints", len(batch))
            if queue.empty():
                self._idle.set()
            await self._maybe_purge()

    async def _maybe_purge(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_purge < self.config.purge_interval:
            return
        self._last_purge = loop.time()
        try:
            purged = await self.service.purge()
            if purged:
                log.info("profiles purged", extra={"count": purged})
        except Exception:
            log.exception("profile purge failed")
