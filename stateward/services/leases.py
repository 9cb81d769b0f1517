"""Singleton roles: run a coroutine in exactly one of several processes, moving on failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Gauge

from stateward.domain.events import utcnow
from stateward.store.db import Store
from stateward.store.repositories.leases import Lease, LeaseRepository

log = logging.getLogger(__name__)

HOLDING = Gauge("stateward_lease_held", "1 when this process holds the lease", ["lease"])

RoleBody = Callable[[], Awaitable[None]]


class SingletonRole:
    """Holds lease ``name`` and runs ``body`` while it holds it.

    Every process runs one of these; whoever wins the lease runs the body. The holder renews
    every ``renew_interval``; if it dies, its lease expires after ``ttl`` and another process
    takes over at its next attempt. A holder that fails to renew in time stops its body first.
    """

    def __init__(
        self,
        store: Store,
        name: str,
        holder: str,
        body: RoleBody,
        *,
        ttl: float,
        renew_interval: float,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.body = body
        self.ttl = ttl
        self.renew_interval = renew_interval
        self.generation: int | None = None
        self._body_task: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.acquired = asyncio.Event()
        self._abandoned: set[asyncio.Task[Lease | None]] = set()

    @property
    def is_leader(self) -> bool:
        return self._body_task is not None and not self._body_task.done()

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name=f"lease:{self.name}")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await self._stop_body()
        if self.generation is not None:
            try:
                async with self.store.uow() as uow:
                    await LeaseRepository(uow).release(self.name, self.holder, utcnow())
                    await uow.commit()
            except Exception:
                log.warning("could not release lease %s", self.name)
            self.generation = None
        HOLDING.labels(self.name).set(0)

    async def _stop_body(self) -> None:
        if self._body_task is not None:
            self._body_task.cancel()
            await asyncio.gather(self._body_task, return_exceptions=True)
            self._body_task = None
        self.acquired.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_renewed = 0.0
        while True:
            started = loop.time()
            # A holder must give up before its lease can expire, even if the store never answers.
            limit = max(0.0, last_renewed + self.ttl * 0.8 - started) if self.is_leader else None
            try:
                lease = await self._try_acquire(limit)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lease %s: store unreachable", self.name)
                lease = None
                if self.is_leader and loop.time() - last_renewed < self.ttl * 0.8:
                    await asyncio.sleep(self.renew_interval / 3)
                    continue
            if lease is not None:
                last_renewed = started  # the lease's expiry was counted from before the attempt
                if not self.is_leader:
                    self.generation = lease.generation
                    log.info("lease %s acquired (generation %s)", self.name, lease.generation)
                    HOLDING.labels(self.name).set(1)
                    self._body_task = asyncio.create_task(self._guarded_body())
                    self.acquired.set()
            elif self.is_leader or self.generation is not None:
                log.warning("lease %s lost", self.name)
                HOLDING.labels(self.name).set(0)
                self.generation = None
                await self._stop_body()
            await asyncio.sleep(self.renew_interval)

    async def _try_acquire(self, limit: float | None) -> Lease | None:
        """Take or renew the lease; TimeoutError after ``limit`` seconds even if the store hangs.

        The attempt is cancelled but not awaited: on a black-holed connection even the rollback
        would hang, and the holder must stop its body now, not when TCP gives up.
        """
        attempt = asyncio.create_task(self._acquire_once())
        try:
            done, _ = await asyncio.wait({attempt}, timeout=limit)
        finally:
            if not attempt.done():
                attempt.cancel()
                self._abandoned.add(attempt)
                attempt.add_done_callback(self._abandoned.discard)
        if not done:
            raise TimeoutError(f"lease {self.name}: no answer from the store in {limit:.1f}s")
        return attempt.result()

    async def _acquire_once(self) -> Lease | None:
        async with self.store.uow() as uow:
            lease = await LeaseRepository(uow).try_acquire(
                self.name, self.holder, utcnow(), self.ttl
            )
            await uow.commit()
        return lease

    async def _guarded_body(self) -> None:
        try:
            await self.body()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("singleton role %s crashed", self.name)
