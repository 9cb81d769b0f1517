"""Delivery rules every bus keeps, written once and run against each implementation.

A test module subclasses ``BusContract`` and provides a ``buses`` fixture: two started buses
standing for two server processes (the in-process bus gives the same one twice).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from stateward.bus.base import Bus, SignalHandler
from stateward.bus.memory import MAX_ATTEMPTS
from stateward.domain.events import Envelope

SETTLE = 0.5  # how long "nothing more arrives" is watched for


def event(event_type: str, **traits: object) -> Envelope:
    return Envelope(event_type=event_type, publisher_id="test", traits=dict(traits))


class Inbox:
    """A handler that records what it received; tests await a count instead of sleeping."""

    def __init__(self, *, work: float = 0.0, into: Inbox | None = None) -> None:
        self.items: list[Envelope] = []
        self.work = work
        self.into = into  # also record there: the total of several group members
        self._changed = asyncio.Condition()

    async def __call__(self, envelope: Envelope) -> None:
        if self.work:
            await asyncio.sleep(self.work)
        self.items.append(envelope)
        async with self._changed:
            self._changed.notify_all()
        if self.into is not None:
            await self.into(envelope)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Envelope]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.items) >= count)
        return self.items

    @property
    def types(self) -> list[str]:
        return [e.event_type for e in self.items]

    @property
    def ids(self) -> list[str]:
        return [e.message_id for e in self.items]


class Flaky:
    """Fails the first ``failures`` attempts at each event, then records it."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: Counter[str] = Counter()
        self.inbox = Inbox()

    async def __call__(self, envelope: Envelope) -> None:
        self.attempts[envelope.message_id] += 1
        if self.attempts[envelope.message_id] <= self.failures:
            raise RuntimeError("handler failed")
        await self.inbox(envelope)


class BusContract:
    async def test_patterns_match_nats_subject_syntax(self, buses: list[Bus]) -> None:
        bus = buses[0]
        one_token, rest, exact = Inbox(), Inbox(), Inbox()
        await bus.subscribe("compute.*", one_token)
        await bus.subscribe("compute.>", rest)
        await bus.subscribe("port.create.end", exact)
        for event_type in ("compute.down", "compute.instance.update", "port.create.end", "port.x"):
            await bus.publish(event(event_type))
        await rest.wait_for(2)
        await one_token.wait_for(1)
        await exact.wait_for(1)
        await asyncio.sleep(SETTLE)
        assert one_token.types == ["compute.down"]
        assert rest.types == ["compute.down", "compute.instance.update"]
        assert exact.types == ["port.create.end"]

    async def test_broadcast_reaches_every_subscriber_in_every_process(
        self, buses: list[Bus]
    ) -> None:
        first, second = Inbox(), Inbox()
        await buses[0].subscribe("chassis.>", first)
        await buses[1].subscribe("chassis.>", second)
        sent = [event("chassis.down", n=n) for n in range(10)]
        for envelope in sent:
            await buses[0].publish(envelope)
        assert (await first.wait_for(10)) == sent
        assert (await second.wait_for(10)) == sent

    async def test_group_handles_each_event_once_and_each_group_sees_all(
        self, buses: list[Bus]
    ) -> None:
        total = Inbox()
        members = [Inbox(into=total), Inbox(into=total)]
        other_group, watcher = Inbox(), Inbox()
        await buses[0].subscribe("alarm.>", members[0], group="evaluator")
        await buses[1].subscribe("alarm.>", members[1], group="evaluator")
        await buses[1].subscribe("alarm.>", other_group, group="journal")
        await buses[0].subscribe("alarm.>", watcher)
        sent = [event("alarm.state", n=n) for n in range(20)]
        for envelope in sent:
            await buses[0].publish(envelope)
        await other_group.wait_for(20)
        await watcher.wait_for(20)
        await total.wait_for(20)
        await asyncio.sleep(SETTLE)
        assert sorted(total.ids) == sorted(e.message_id for e in sent)
        assert sorted(members[0].ids + members[1].ids) == sorted(total.ids)
        assert other_group.ids == watcher.ids == [e.message_id for e in sent]

    async def test_one_subscriber_receives_in_publish_order(self, buses: list[Bus]) -> None:
        queued, broadcast = Inbox(), Inbox()
        await buses[1].subscribe("port.>", queued, group="agent")
        await buses[1].subscribe("port.>", broadcast)
        sent = [event("port.update.end", n=n) for n in range(30)]
        for envelope in sent:
            await buses[0].publish(envelope)
        assert (await queued.wait_for(30)) == sent
        assert (await broadcast.wait_for(30)) == sent

    async def test_group_member_with_concurrency_overlaps_its_handlers(
        self, buses: list[Bus]
    ) -> None:
        running = 0
        peak = 0
        done = Inbox()

        async def slow(envelope: Envelope) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1
            await done(envelope)

        await buses[1].subscribe("vm.>", slow, group="firer", concurrency=8)
        sent = [event("vm.error", n=n) for n in range(16)]
        for envelope in sent:
            await buses[0].publish(envelope)
        await done.wait_for(16)
        await asyncio.sleep(SETTLE)
        assert sorted(done.ids) == sorted(e.message_id for e in sent)  # each exactly once
        assert peak > 1  # handled side by side, not one after another

    async def test_failing_handler_is_retried_until_it_succeeds(self, buses: list[Bus]) -> None:
        queued, broadcast = Flaky(failures=2), Flaky(failures=2)
        await buses[1].subscribe("compute.>", queued, group="inspector")
        await buses[1].subscribe("compute.>", broadcast)
        sent = event("compute.down")
        await buses[0].publish(sent)
        assert (await queued.inbox.wait_for(1)) == [sent]
        assert (await broadcast.inbox.wait_for(1)) == [sent]
        assert queued.attempts[sent.message_id] == 3
        assert broadcast.attempts[sent.message_id] == 3

    async def test_handler_that_keeps_failing_is_given_up_and_the_rest_flows(
        self, buses: list[Bus]
    ) -> None:
        attempts, handled = Inbox(), Inbox()

        async def handler(envelope: Envelope) -> None:
            await attempts(envelope)
            if envelope.event_type == "compute.poison":
                raise RuntimeError("cannot handle this one")
            await handled(envelope)

        await buses[1].subscribe("compute.>", handler, group="inspector")
        await buses[0].publish(event("compute.poison"))
        await buses[0].publish(event("compute.fine"))
        await handled.wait_for(1)
        await attempts.wait_for(MAX_ATTEMPTS + 1, timeout=10)
        await asyncio.sleep(2 * SETTLE)
        assert Counter(attempts.types) == {"compute.poison": MAX_ATTEMPTS, "compute.fine": 1}
        assert handled.types == ["compute.fine"]

    async def test_subscriber_sees_only_events_published_after_it_subscribed(
        self, buses: list[Bus]
    ) -> None:
        await buses[0].publish(event("network.create.end", n="before"))
        queued, broadcast = Inbox(), Inbox()
        await buses[1].subscribe("network.>", queued, group="fresh")
        await buses[1].subscribe("network.>", broadcast)
        after = event("network.create.end", n="after")
        await buses[0].publish(after)
        assert (await queued.wait_for(1)) == [after]
        assert (await broadcast.wait_for(1)) == [after]
        await asyncio.sleep(SETTLE)
        assert queued.items == broadcast.items == [after]

    async def test_unsubscribed_handler_gets_nothing_more(self, buses: list[Bus]) -> None:
        queued, broadcast = Inbox(), Inbox()
        subs = [
            await buses[1].subscribe("port.>", queued, group="agent"),
            await buses[1].subscribe("port.>", broadcast),
        ]
        first = event("port.create.end")
        await buses[0].publish(first)
        await queued.wait_for(1)
        await broadcast.wait_for(1)
        for sub in subs:
            await sub.unsubscribe()
        await buses[0].publish(event("port.delete.end"))
        await asyncio.sleep(SETTLE)
        assert queued.items == broadcast.items == [first]

    async def test_signals_reach_listeners_and_a_group_once(self, buses: list[Bus]) -> None:
        heard: list[tuple[str, str, bytes]] = []
        arrived = asyncio.Event()

        def listener(name: str) -> SignalHandler:
            async def handler(subject: str, data: bytes) -> None:
                heard.append((name, subject, data))
                arrived.set()

            return handler

        await buses[0].listen("heartbeat.*", listener("all-a"))
        await buses[1].listen("heartbeat.*", listener("all-b"))
        await buses[0].listen("heartbeat.*", listener("watcher-a"), group="watcher")
        await buses[1].listen("heartbeat.*", listener("watcher-b"), group="watcher")
        await buses[1].listen("other", listener("other"))
        for n in range(10):
            await buses[0].send("heartbeat.chassis-1", b"%d" % n)
        async with asyncio.timeout(5):
            while len(heard) < 30:
                arrived.clear()
                await arrived.wait()
        await asyncio.sleep(SETTLE)
        by_listener = Counter(name for name, _, _ in heard)
        assert by_listener["all-a"] == by_listener["all-b"] == 10
        assert by_listener["watcher-a"] + by_listener["watcher-b"] == 10
        assert "other" not in by_listener
        assert {subject for _, subject, _ in heard} == {"heartbeat.chassis-1"}
