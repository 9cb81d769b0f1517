"""The NATS JetStream bus, against the real server: the shared rules plus what only it does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import nats
import pytest

import stateward.bus.nats
from stateward.bus.nats import NatsBus
from stateward.config import BusConfig
from tests.bus_contract import SETTLE, BusContract, Inbox, event
from tests.integration.conftest import NatsServer

MakeBus = Callable[[], Awaitable[NatsBus]]


@pytest.fixture
async def buses(make_nats_bus: MakeBus) -> list[NatsBus]:
    return [await make_nats_bus(), await make_nats_bus()]


class TestNatsBus(BusContract):
    async def test_two_processes_in_a_group_share_50_events_exactly_once(
        self, buses: list[NatsBus]
    ) -> None:
        total = Inbox()
        members = [Inbox(work=0.005, into=total), Inbox(work=0.005, into=total)]
        for bus, member in zip(buses, members, strict=True):
            await bus.subscribe("compute.>", member, group="inspector")
        sent = [event("compute.down", n=n) for n in range(50)]
        for envelope in sent:
            await buses[0].publish(envelope)
        await total.wait_for(50, timeout=10)
        await asyncio.sleep(SETTLE)
        assert sorted(total.ids) == sorted(e.message_id for e in sent)
        assert len(members[0].items) + len(members[1].items) == 50
        assert members[0].items and members[1].items, "both processes take a share"

    async def test_offline_group_catches_up_on_what_it_missed(
        self, buses: list[NatsBus], make_nats_bus: MakeBus
    ) -> None:
        before = Inbox()
        await buses[1].subscribe("chassis.>", before, group="watcher.v1 main")
        first = event("chassis.up")
        await buses[0].publish(first)
        await before.wait_for(1)
        await buses[1].close()  # the only member goes away

        missed = [event("chassis.down", n=n) for n in range(5)]
        for envelope in missed:
            await buses[0].publish(envelope)

        restarted = await make_nats_bus()
        after = Inbox()
        await restarted.subscribe("chassis.>", after, group="watcher.v1 main")
        assert (await after.wait_for(5)) == missed
        await asyncio.sleep(SETTLE)
        assert after.items == missed

    async def test_republished_message_id_is_stored_and_delivered_once(
        self, buses: list[NatsBus]
    ) -> None:
        queued, broadcast = Inbox(), Inbox()
        await buses[1].subscribe("port.>", queued, group="agent")
        await buses[1].subscribe("port.>", broadcast)
        envelope = event("port.update.end")
        await buses[0].publish(envelope)
        await buses[1].publish(envelope)  # e.g. the outbox sweep after a crash
        await queued.wait_for(1)
        await broadcast.wait_for(1)
        await asyncio.sleep(SETTLE)
        assert queued.items == broadcast.items == [envelope]
        info = await buses[0].js.stream_info(buses[0].config.stream)
        assert info.state.last_seq == 1, "the server dropped the duplicate itself"

    async def test_idle_subscriber_gets_an_event_within_milliseconds(
        self, buses: list[NatsBus]
    ) -> None:
        queued, broadcast = Inbox(), Inbox()
        await buses[1].subscribe("chassis.>", queued, group="notifier")
        await buses[1].subscribe("chassis.>", broadcast)
        await asyncio.sleep(1.0)  # both are now waiting on an idle stream
        for _ in range(3):
            started = time.monotonic()
            await buses[0].publish(event("chassis.down"))
            count = len(queued.items) + 1
            await queued.wait_for(count)
            await broadcast.wait_for(count)
            assert time.monotonic() - started < 0.25

    async def test_slow_handler_keeps_its_events_from_other_processes(
        self, buses: list[NatsBus], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(stateward.bus.nats, "ACK_WAIT", 1.0)
        sub = await buses[0].subscribe("journal.>", Inbox(), group="journal")
        await sub.unsubscribe()  # the durable queue stays and fills up meanwhile
        sent = [event("journal.entry", n=n) for n in range(3)]
        for envelope in sent:
            await buses[0].publish(envelope)

        total = Inbox()
        slow = Inbox(work=1.5, into=total)  # longer than ack_wait, for each event
        await buses[0].subscribe("journal.>", slow, group="journal")  # takes all 3 at once
        await asyncio.sleep(0.3)  # let it fetch the batch before the idle process asks
        idle = Inbox(into=total)
        await buses[1].subscribe("journal.>", idle, group="journal")
        await total.wait_for(3, timeout=10)
        await asyncio.sleep(1.5)
        # Each event handled exactly once: what the slow process held (even past ack_wait)
        # was not redelivered to the idle one. (On a loaded machine a fetch may return before
        # the whole batch arrived; the idle process then legitimately gets the rest.)
        assert sorted(total.ids) == sorted(e.message_id for e in sent), "an event ran twice"
        assert not set(slow.ids) & set(idle.ids)
        assert slow.items, "the slow process got nothing"

    async def test_closing_hands_unhandled_events_to_another_process_at_once(
        self, buses: list[NatsBus], make_nats_bus: MakeBus
    ) -> None:
        leaving = await make_nats_bus()
        sub = await leaving.subscribe("journal.>", Inbox(), group="journal")
        await sub.unsubscribe()
        sent = [event("journal.entry", n=n) for n in range(3)]
        for envelope in sent:
            await buses[0].publish(envelope)
        slow = Inbox(work=1.0)
        await leaving.subscribe("journal.>", slow, group="journal")  # takes all 3 at once
        await asyncio.sleep(0.2)
        staying = Inbox()
        await buses[1].subscribe("journal.>", staying, group="journal")
        await leaving.close()  # finishes the event in hand, gives back the others
        assert slow.items == sent[:1]
        assert (await staying.wait_for(2, timeout=2)) == sent[1:]  # not after ack_wait (30 s)


async def test_bus_survives_a_server_restart(nats_server: NatsServer, subject_prefix: str) -> None:
    """Connections come back on their own, and both kinds of subscription resume."""
    config = BusConfig(url=nats_server.url, stream=subject_prefix, subject_prefix=subject_prefix)
    publisher, subscriber = NatsBus(config, name="pub"), NatsBus(config, name="sub")
    await publisher.start()
    await subscriber.start()
    try:
        queued, broadcast = Inbox(), Inbox()
        await subscriber.subscribe("chassis.>", queued, group="watcher")
        await subscriber.subscribe("chassis.>", broadcast)
        before = event("chassis.down")
        await publisher.publish(before)
        await queued.wait_for(1)
        await broadcast.wait_for(1)

        await nats_server.stop()
        await asyncio.sleep(1.0)
        await nats_server.start()

        after = event("chassis.up")
        async with asyncio.timeout(15):
            while True:  # publishing fails until the publisher has reconnected
                try:
                    await publisher.publish(after)
                    break
                except nats.errors.Error:
                    await asyncio.sleep(0.2)
        assert (await queued.wait_for(2, timeout=15)) == [before, after]
        assert (await broadcast.wait_for(2, timeout=15)) == [before, after]
    finally:
        await publisher.close()
        await subscriber.close()
