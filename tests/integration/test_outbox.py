"""The outbox: a use case's notifications leave exactly when, and as often as, it commits."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from stateward.bus.base import Bus
from stateward.bus.memory import MemoryBus
from stateward.bus.nats import NatsBus
from stateward.config import BusConfig, to_async_url
from stateward.services.outbox import OutboxRelay
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async
from stateward.store.repositories.outbox import OutboxRepository
from tests.bus_contract import SETTLE, Inbox, event

MakeBus = Callable[[], Awaitable[NatsBus]]


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    url = to_async_url(db_url)
    await upgrade_async(url)
    store = Store(url)
    yield store
    await store.close()


@pytest.fixture
async def memory_bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
async def nats_bus(make_nats_bus: MakeBus) -> NatsBus:
    return await make_nats_bus()


@pytest.fixture(params=["memory", "nats"])
def bus(request: pytest.FixtureRequest) -> Bus:
    """Runs a relay test with the in-process bus and with NATS."""
    return request.getfixturevalue(f"{request.param}_bus")  # type: ignore[no-any-return]


async def unsent(store: Store) -> int:
    async with store.uow(readonly=True) as uow:
        return await OutboxRepository(uow).count_unsent()


async def test_committed_events_reach_the_bus_right_after_commit(store: Store, bus: Bus) -> None:
    relay = OutboxRelay(store, bus, sweep_interval=60, retention=3600)  # no sweep in this test
    await relay.start()
    received = Inbox()
    await bus.subscribe("port.>", received, group="agent")
    sent = [event("port.create.end", n=n) for n in range(3)]
    async with store.uow() as uow:
        for envelope in sent:
            uow.emit(envelope)
        await uow.commit()
    assert (await received.wait_for(3, timeout=2)) == sent
    await relay.stop()
    assert await unsent(store) == 0


async def test_rolled_back_use_case_emits_nothing(store: Store, bus: Bus) -> None:
    relay = OutboxRelay(store, bus, sweep_interval=0.05, retention=3600)
    await relay.start()
    received = Inbox()
    await bus.subscribe("port.>", received, group="agent")
    with pytest.raises(RuntimeError):
        async with store.uow() as uow:
            uow.emit(event("port.create.end"))
            raise RuntimeError("quota exceeded")  # the use case fails before commit
    await asyncio.sleep(SETTLE)  # several sweeps
    await relay.stop()
    assert received.items == []
    assert await unsent(store) == 0


CRASHING_PROCESS = """
import asyncio, os, signal, sys
from stateward.bus.nats import NatsBus
from stateward.config import BusConfig, to_async_url
from stateward.domain.events import Envelope
from stateward.services.outbox import OutboxRelay
from stateward.store.db import Store

async def main(db_url, nats_url, prefix, message_id):
    store = Store(to_async_url(db_url))
    bus = NatsBus(BusConfig(url=nats_url, stream=prefix, subject_prefix=prefix))
    await bus.start()
    relay = OutboxRelay(store, bus, sweep_interval=60, retention=3600)
    await relay.start()
    async with store.uow() as uow:
        uow.emit(Envelope(event_type="chassis.down", publisher_id="p1", message_id=message_id))
        await uow.commit()
        print("COMMITTED", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # nothing awaited since commit: the relay never ran

asyncio.run(main(*sys.argv[1:]))
"""


async def test_crash_between_commit_and_publish_loses_nothing(
    store: Store,
    db_url: str,
    nats_config: BusConfig,
    make_nats_bus: MakeBus,
    python_env: dict[str, str],
) -> None:
    subscriber = await make_nats_bus()
    received = Inbox()
    await subscriber.subscribe("chassis.>", received, group="notifier")
    message_id = str(uuid.uuid4())

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHING_PROCESS,
        db_url,
        nats_config.url,
        nats_config.subject_prefix,
        message_id,
        env=python_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert out.decode().split() == ["COMMITTED"]
    assert await unsent(store) == 1
    info = await subscriber.js.stream_info(nats_config.stream)
    assert info.state.last_seq == 0, "the crashed process published nothing"

    # Two surviving processes start their relays; their sweeps race for the row.
    relays = []
    for _ in range(2):
        other = Store(store.url)
        relay = OutboxRelay(other, await make_nats_bus(), sweep_interval=0.1, retention=3600)
        await relay.start()
        relays.append((relay, other))
    (delivered,) = await received.wait_for(1, timeout=5)
    assert delivered.message_id == message_id
    assert delivered.event_type == "chassis.down"
    await asyncio.sleep(SETTLE)  # more sweeps run
    for relay, other in relays:
        await relay.stop()
        await other.close()
    assert [e.message_id for e in received.items] == [message_id]
    assert await unsent(store) == 0
