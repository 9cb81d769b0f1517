"""Liveness on a real store (SQLite and PostgreSQL): registration events, batched heartbeats,
the deadline watcher's chassis.down/up (exactly once), restart grace and the binding check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from stateward.bus.memory import MemoryBus
from stateward.config import LivenessConfig, NetworkConfig, to_async_url
from stateward.domain.errors import Conflict, InvalidInput, NotFound
from stateward.domain.events import Envelope, deterministic_id, utcnow
from stateward.services.liveness import TRANSACTIONS, LivenessService
from stateward.services.network import NetworkService
from stateward.services.outbox import OutboxRelay
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async
from stateward.store.repositories.chassis import ChassisRepository
from stateward.store.tables.core import outbox

FAST = LivenessConfig(report_interval=0.1, chassis_down_time=0.3, restart_grace=0.3)


@dataclass
class World:
    store: Store
    bus: MemoryBus
    relay: OutboxRelay
    events: list[Envelope] = field(default_factory=list)

    def of(self, event_type: str, name: str | None = None) -> list[Envelope]:
        return [
            e
            for e in self.events
            if e.event_type == event_type and (name is None or e.resource_id == name)
        ]

    async def outbox_types(self, name: str) -> list[str]:
        async with self.store.uow(readonly=True) as uow:
            rows = await uow.conn.execute(
                sa.select(outbox.c.event_type, outbox.c.envelope).order_by(outbox.c.id)
            )
            return [r.event_type for r in rows if r.envelope.get("resource_id") == name]


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    url = to_async_url(db_url)
    await upgrade_async(url)
    store = Store(url)
    bus = MemoryBus()
    await bus.start()
    relay = OutboxRelay(store, bus, sweep_interval=0.5, retention=3600)
    w = World(store, bus, relay)

    async def collect(envelope: Envelope) -> None:
        w.events.append(envelope)

    await bus.subscribe("chassis.>", collect)
    await bus.subscribe("port.>", collect)
    await relay.start()
    yield w
    await relay.stop()
    await bus.close()
    await store.close()


async def eventually(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.01)
    assert check()


@pytest.fixture
async def liveness(world: World) -> AsyncIterator[LivenessService]:
    service = LivenessService(world.store, world.bus, FAST)
    await service.absorber.start()
    yield service
    await service.absorber.stop()


async def test_registration_emits_create_and_update_only_on_ip_or_tunnel_change(
    world: World, liveness: LivenessService
) -> None:
    _, created, interval = await liveness.register("c1", "10.0.0.1", tunnel_types=["vxlan"])
    assert created and interval == 0.1
    await liveness.register("c1", "10.0.0.1", tunnel_types=["vxlan"])  # same: no event
    await liveness.report("c1", None)  # a timestamp-only report: never broadcast
    await liveness.report("c1", {"l3": {"state": "running", "pid": 1}})
    await liveness.register("c1", "10.0.0.9", tunnel_types=["vxlan"])
    await liveness.register("c1", "10.0.0.9", tunnel_types=["vxlan", "geneve"])
    await eventually(lambda: len(world.events) >= 3)
    await asyncio.sleep(0.1)
    assert [e.event_type for e in world.events] == [
        "chassis.create",
        "chassis.update",
        "chassis.update",
    ]
    update = world.events[1]
    assert update.traits["host"] == "c1"
    assert update.traits["ip"] == "10.0.0.9" and update.traits["old_ip"] == "10.0.0.1"
    assert world.events[2].traits["tunnel_types"] == "vxlan,geneve"
    stored = await liveness.get("c1")
    assert stored.service_status["l3"].state == "running"


async def test_registration_asking_for_too_long_an_interval_is_refused(
    liveness: LivenessService,
) -> None:
    with pytest.raises(InvalidInput, match="more than twice"):
        await liveness.register("c1", "10.0.0.1", report_interval=0.15)
    _, _, interval = await liveness.register("c1", "10.0.0.1", report_interval=0.05)
    assert interval == 0.05


async def test_report_for_an_unknown_chassis_is_not_found(liveness: LivenessService) -> None:
    with pytest.raises(NotFound):
        await liveness.report("ghost", None)


async def test_heartbeats_are_absorbed_in_batches(world: World, liveness: LivenessService) -> None:
    names = [f"h{i}" for i in range(300)]
    for name in names:
        await liveness.register(name, "10.0.0.1")
    before_tx = TRANSACTIONS._value.get()
    t0 = utcnow()
    await asyncio.gather(*(liveness.report(n, None) for n in names))
    transactions = TRANSACTIONS._value.get() - before_tx
    assert transactions <= 5, f"{transactions} transactions for 300 heartbeats"
    async with world.store.uow(readonly=True) as uow:
        rows = await ChassisRepository(uow).list()
    assert all(c.heartbeat_at is not None and c.heartbeat_at >= t0 for c in rows)


async def test_watcher_declares_down_once_then_up_and_others_never_flap(
    world: World, liveness: LivenessService
) -> None:
    for name in ("a", "b", "c"):
        await liveness.register(name, "10.0.0.1")
    watcher = asyncio.create_task(liveness.watcher.run())
    stop = asyncio.Event()

    async def keep_reporting(names: list[str]) -> None:
        while not stop.is_set():
            for name in names:
                await liveness.report(name, None)
            await asyncio.sleep(0.1)

    reporters = asyncio.create_task(keep_reporting(["a", "b"]))
    try:
        await eventually(lambda: world.of("chassis.down", "c"))
        down = world.of("chassis.down", "c")[0]
        stored = await liveness.get("c")
        assert down.publisher_id == "liveness.stateward" and down.project_id is None
        assert down.traits["host"] == down.traits["chassis"] == "c"
        assert down.traits["ip"] == "10.0.0.1"
        assert down.traits["generation"] == stored.generation
        assert down.traits["last_seen"]
        assert down.message_id == deterministic_id("chassis", "c", "down", stored.generation)
        assert stored.announced == "down"
        await asyncio.sleep(0.5)  # still silent: no second chassis.down
        assert len(world.of("chassis.down", "c")) == 1
        async with world.store.uow(readonly=True) as uow:
            assert await _alive(uow, "c") is False

        await liveness.report("c", None)
        await eventually(lambda: world.of("chassis.up", "c"))
        up = world.of("chassis.up", "c")[0]
        assert up.traits["generation"] == down.traits["generation"] + 1
        assert up.message_id == deterministic_id("chassis", "c", "up", up.traits["generation"])
        assert world.of("chassis.down", "a") == [] and world.of("chassis.down", "b") == []
    finally:
        stop.set()
        await reporters
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def _alive(uow, host: str):  # type: ignore[no-untyped-def]
    from stateward.services.liveness import host_alive

    return await host_alive(uow, host, chassis_down_time=FAST.chassis_down_time)


async def test_two_watchers_racing_emit_one_chassis_down(world: World) -> None:
    """Compare-and-set on the announced state: a failover or split brain never doubles it."""
    first = LivenessService(world.store, world.bus, FAST)
    second = LivenessService(world.store, world.bus, FAST)
    await first.register("lonely", "10.0.0.7")
    tasks = [asyncio.create_task(s.watcher.run()) for s in (first, second)]
    try:
        await eventually(lambda: world.of("chassis.down", "lonely"))
        await asyncio.sleep(0.5)
        assert len(world.of("chassis.down", "lonely")) == 1
        assert (await world.outbox_types("lonely")).count("chassis.down") == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_restart_grace_after_a_long_outage(world: World) -> None:
    """Heartbeats far older than the down time in the store: nobody is down at once."""
    config = LivenessConfig(report_interval=0.1, chassis_down_time=0.3, restart_grace=0.6)
    service = LivenessService(world.store, world.bus, config)
    await service.absorber.start()
    for name in ("back", "gone"):
        await service.register(name, "10.0.0.1")
    await asyncio.sleep(1.0)  # "the server was down": both stale now
    started = time.monotonic()
    watcher = asyncio.create_task(service.watcher.run())
    try:
        await asyncio.sleep(0.3)
        assert world.of("chassis.down") == []

        async def back_again() -> None:  # its agent resumes within the grace
            while True:
                await service.report("back", None)
                await asyncio.sleep(0.1)

        reporter = asyncio.create_task(back_again())
        await eventually(lambda: world.of("chassis.down", "gone"))
        assert time.monotonic() - started >= 0.55
        await asyncio.sleep(0.2)
        reporter.cancel()
        assert world.of("chassis.down", "back") == []
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await service.absorber.stop()


async def test_delete_refuses_an_active_chassis_unless_forced(
    world: World, liveness: LivenessService
) -> None:
    await liveness.register("busy", "10.0.0.1")
    with pytest.raises(Conflict, match="active"):
        await liveness.delete("busy")
    await liveness.delete("busy", force=True)
    with pytest.raises(NotFound):
        await liveness.get("busy")
    await eventually(lambda: world.of("chassis.delete", "busy"))


async def test_clean_stale_removes_only_down_chassis(liveness: LivenessService) -> None:
    await liveness.register("old", "10.0.0.1")
    await asyncio.sleep(0.4)
    await liveness.register("fresh", "10.0.0.2")
    assert [c.name for c in await liveness.clean_stale(3600)] == []  # not silent for an hour
    removed = await liveness.clean_stale(0.35)
    assert [c.name for c in removed] == ["old"]
    assert [c.name for c in await liveness.list()] == ["fresh"]


async def test_port_bound_to_a_dead_chassis_fails_binding_with_a_notification(
    world: World, liveness: LivenessService
) -> None:
    await liveness.register("alive-host", "10.0.0.1")
    await liveness.register("dead-host", "10.0.0.2")
    network = NetworkService(world.store, NetworkConfig(), binding_check=liveness.host_alive)
    net = await network.networks.create("p1", {"name": "n"})
    await asyncio.sleep(0.4)  # dead-host misses its deadline
    await liveness.report("alive-host", None)
    good = await network.ports.create("p1", {"network_id": net.id, "binding:host_id": "alive-host"})
    assert good.binding_vif_type == "ovs"
    bad = await network.ports.create("p1", {"network_id": net.id, "binding:host_id": "dead-host"})
    assert bad.binding_vif_type == "binding_failed"
    unknown = await network.ports.create("p1", {"network_id": net.id, "binding:host_id": "nope"})
    assert unknown.binding_vif_type == "binding_failed"
    await eventually(lambda: len(world.of("port.binding.failed")) == 2)
    failed = world.of("port.binding.failed")
    assert {(e.traits["host"], e.traits["port_id"]) for e in failed} == {
        ("dead-host", bad.id),
        ("nope", unknown.id),
    }

    strict = NetworkService(
        world.store, NetworkConfig(), binding_check=liveness.host_alive, refuse_dead_binding=True
    )
    with pytest.raises(Conflict, match="dead-host is down"):
        await strict.ports.create("p1", {"network_id": net.id, "binding:host_id": "dead-host"})
