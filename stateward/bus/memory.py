"""The in-process bus: the embedded default, with the same delivery rules as NATS."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field

from stateward.bus.base import Handler, SignalHandler, subject_matches
from stateward.domain.events import Envelope

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass(eq=False)
class _Member:
    bus: MemoryBus
    pattern: str
    group: str | None
    handler: Handler | None = None
    signal_handler: SignalHandler | None = None
    queue: asyncio.Queue[tuple[str, object]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    concurrency: int = 1
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)

    async def unsubscribe(self) -> None:
        self.bus._remove(self)
        tasks = [t for t in (self.task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self) -> None:
        """Deliver in order (or up to ``concurrency`` at once), each at least once."""
        if self.concurrency <= 1:
            while True:
                subject, item = await self.queue.get()
                await self._deliver(subject, item)
        slots = asyncio.Semaphore(self.concurrency)
        while True:
            subject, item = await self.queue.get()
            await slots.acquire()
            task = asyncio.create_task(self._deliver(subject, item))
            self._inflight.add(task)

            def finished(done: asyncio.Task[None], slots: asyncio.Semaphore = slots) -> None:
                self._inflight.discard(done)
                slots.release()

            task.add_done_callback(finished)

    async def _deliver(self, subject: str, item: object) -> None:
        """A failing handler is retried with backoff."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                if isinstance(item, Envelope):
                    assert self.handler is not None
                    await self.handler(item)
                else:
                    assert self.signal_handler is not None and isinstance(item, bytes)
                    await self.signal_handler(subject, item)
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bus handler failed", extra={"subject": subject, "attempt": attempt})
                if attempt == MAX_ATTEMPTS or not isinstance(item, Envelope):
                    break
                await asyncio.sleep(0.05 * 2**attempt)


class MemoryBus:
    """Events and signals between the roles of one process."""

    def __init__(self) -> None:
        self._events: list[_Member] = []
        self._signals: list[_Member] = []
        self._round_robin: dict[tuple[str, str], itertools.count[int]] = {}
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for member in [*self._events, *self._signals]:
            await member.unsubscribe()

    async def publish(self, envelope: Envelope) -> None:
        self._dispatch(self._events, envelope.event_type, envelope)

    async def send(self, subject: str, data: bytes) -> None:
        self._dispatch(self._signals, subject, data)

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None, concurrency: int = 1
    ) -> _Member:
        member = _Member(self, pattern, group, handler=handler, concurrency=concurrency)
        return self._add(self._events, member)

    async def listen(
        self, subject: str, handler: SignalHandler, *, group: str | None = None
    ) -> _Member:
        return self._add(self._signals, _Member(self, subject, group, signal_handler=handler))

    def _add(self, members: list[_Member], member: _Member) -> _Member:
        member.task = asyncio.create_task(member.run(), name=f"bus:{member.pattern}")
        members.append(member)
        return member

    def _remove(self, member: _Member) -> None:
        for members in (self._events, self._signals):
            if member in members:
                members.remove(member)

    def _dispatch(self, members: list[_Member], subject: str, item: object) -> None:
        if self._closed:
            raise RuntimeError("bus is closed")
        groups: dict[tuple[str, str], list[_Member]] = {}
        for member in members:
            if not subject_matches(member.pattern, subject):
                continue
            if member.group is None:
                member.queue.put_nowait((subject, item))
            else:
                groups.setdefault((member.pattern, member.group), []).append(member)
        for key, candidates in groups.items():
            counter = self._round_robin.setdefault(key, itertools.count())
            candidates[next(counter) % len(candidates)].queue.put_nowait((subject, item))
