"""Leases on SQLite: who may run a singleton role, and when it moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from stateward.config import to_async_url
from stateward.domain.events import utcnow
from stateward.services.leases import SingletonRole
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async
from stateward.store.repositories.leases import Lease, LeaseRepository


@pytest.fixture
async def stores(sqlite_url: str) -> AsyncIterator[list[Store]]:
    """Two stores on one database file, as two processes would have."""
    url = to_async_url(sqlite_url)
    await upgrade_async(url)
    stores = [Store(url), Store(url)]
    yield stores
    for store in stores:
        await store.close()


async def acquire(store: Store, holder: str, seconds_from_now: float) -> Lease | None:
    now = utcnow() + timedelta(seconds=seconds_from_now)
    async with store.uow() as uow:
        lease = await LeaseRepository(uow).try_acquire("watcher", holder, now, ttl=10)
        await uow.commit()
    return lease


async def test_lease_is_not_granted_to_another_holder_until_it_expires(
    stores: list[Store],
) -> None:
    first = await acquire(stores[0], "A", 0)
    assert first is not None and first.holder == "A"
    assert await acquire(stores[1], "B", 5) is None
    renewed = await acquire(stores[0], "A", 5)  # now held until 15
    assert renewed is not None and renewed.generation == first.generation
    assert await acquire(stores[1], "B", 14) is None
    taken = await acquire(stores[1], "B", 15.5)
    assert taken is not None and taken.holder == "B"
    assert taken.generation == first.generation + 1
    assert await acquire(stores[0], "A", 16) is None, "the old holder lost it"


async def test_released_lease_is_taken_at_once(stores: list[Store]) -> None:
    async def body() -> None:
        await asyncio.Event().wait()

    a = SingletonRole(stores[0], "watcher", "A", body, ttl=30, renew_interval=0.1)
    b = SingletonRole(stores[1], "watcher", "B", body, ttl=30, renew_interval=0.1)
    await a.start()
    await asyncio.wait_for(a.acquired.wait(), timeout=2)
    first_generation = a.generation
    await b.start()
    await asyncio.sleep(0.5)
    assert a.is_leader and not b.is_leader
    await a.stop()  # releases the lease: no need to wait for the 30 s ttl
    await asyncio.wait_for(b.acquired.wait(), timeout=1)
    assert b.is_leader and not a.is_leader
    assert first_generation is not None and b.generation == first_generation + 1
    await b.stop()
