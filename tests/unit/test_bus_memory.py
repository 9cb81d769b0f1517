"""The in-process bus keeps the delivery rules every bus keeps (see ``tests.bus_contract``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stateward.bus.memory import MemoryBus
from tests.bus_contract import BusContract, Inbox, event


@pytest.fixture
async def buses() -> AsyncIterator[list[MemoryBus]]:
    bus = MemoryBus()
    await bus.start()
    yield [bus, bus]  # one process: both "processes" share it
    await bus.close()


class TestMemoryBus(BusContract):
    async def test_group_members_take_turns(self, buses: list[MemoryBus]) -> None:
        bus = buses[0]
        members = [Inbox(), Inbox(), Inbox()]
        for member in members:
            await bus.subscribe("alarm.>", member, group="evaluator")
        sent = [event("alarm.state", n=n) for n in range(9)]
        for envelope in sent:
            await bus.publish(envelope)
        for i, member in enumerate(members):
            assert (await member.wait_for(3)) == sent[i::3]

    async def test_publish_after_close_is_refused(self, buses: list[MemoryBus]) -> None:
        await buses[0].close()
        with pytest.raises(RuntimeError):
            await buses[0].publish(event("port.create.end"))
