"""The NATS JetStream bus, against the real server: the shared rules plus what only it does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from bus_contract import SETTLE, BusContract, Inbox, event

from stateward.bus.nats import NatsBus

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
