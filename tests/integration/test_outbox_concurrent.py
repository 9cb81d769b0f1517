"""The relay publishes a batch concurrently yet in commit order, and a failure leaves the failed
row and everything after it for the sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from stateward.bus.memory import MemoryBus
from stateward.bus.nats import NatsBus
from stateward.config import to_async_url
from stateward.domain.events import Envelope
from stateward.services.outbox import OutboxRelay
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async
from stateward.store.repositories.outbox import OutboxRepository
from tests.bus_contract import Inbox, event


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    url = to_async_url(sqlite_url)
    await upgrade_async(url)
    store = Store(url)
    yield store
    await store.close()


@pytest.mark.nats
async def test_a_large_batch_arrives_in_commit_order_over_nats(
    store: Store, make_nats_bus: Callable[[], Awaitable[NatsBus]]
) -> None:
    bus = await make_nats_bus()
    relay = OutboxRelay(store, bus, sweep_interval=60, retention=3600)
    await relay.start()
    received = Inbox()
    await bus.subscribe("compute.>", received, group="consumer")
    sent = [event("compute.instance.update", n=n) for n in range(300)]
    async with store.uow() as uow:
        for envelope in sent:
            uow.emit(envelope)
        await uow.commit()
    assert (await received.wait_for(300, timeout=20)) == sent
    await relay.stop()


class FlakyBus(MemoryBus):
    def __init__(self, fail_on: str) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.published: list[str] = []

    async def publish(self, envelope: Envelope) -> None:
        if envelope.message_id == self.fail_on:
            raise ConnectionError("bus unavailable")
        self.published.append(envelope.message_id)
        await super().publish(envelope)


async def test_a_failure_leaves_the_failed_row_and_the_rest_unsent(store: Store) -> None:
    batch = [event("port.update.end", n=n) for n in range(5)]
    bus = FlakyBus(fail_on=batch[2].message_id)
    await bus.start()
    relay = OutboxRelay(store, bus, sweep_interval=60, retention=3600)
    async with store.uow() as uow:
        for envelope in batch:
            uow.emit(envelope)
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        rows = await OutboxRepository(uow).unsent(
            created_before=batch[0].generated.replace(year=2100), limit=10
        )
    sent = await relay._publish(rows, path="test")
    assert sent == [row_id for row_id, _ in rows[:2]]
    await bus.close()
