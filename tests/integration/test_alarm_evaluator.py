"""The evaluator with a real store and bus: fires once under a race, sees changes at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from stateward.config import load_settings
from stateward.domain.alarm import ALARM, Alarm, parse_event_rule
from stateward.domain.events import Envelope, TraceContext
from stateward.runtime import Runtime
from stateward.services.alarm_evaluator import AlarmEvaluator
from stateward.services.alarms import Actor
from stateward.store.repositories.alarms import AlarmRepository
from tests.support.webhook import WebhookReceiver

ACTOR = Actor(user_id="u", project_id="p1")


def settings(db_url: str, tmp_path: Path) -> Runtime:
    return Runtime(
        load_settings(
            **{
                "database.url": db_url,
                "state_dir": tmp_path,
                "alarms.resync_interval": 0,
                "alarms.notifier_retries": 0,
                "alarms.action_open": ["127.0.0.0/8"],  # the receiver is on loopback
            }
        )
    )


def new_alarm(
    name: str, rule: dict[str, object], actions: tuple[str, ...] = (), **kw: object
) -> Alarm:
    return Alarm(
        alarm_id=f"00000000-0000-0000-0000-{abs(hash(name)) % 10**12:012d}",
        name=name,
        project_id="p1",
        user_id="u",
        rule=parse_event_rule(rule),
        alarm_actions=actions,
        **kw,  # type: ignore[arg-type]
    )


def vm_error(instance: str = "vm-1") -> Envelope:
    return Envelope(
        event_type="compute.instance.update",
        publisher_id="test",
        project_id="p1",
        traits={"instance_id": instance, "state": "error"},
    )


async def test_two_evaluators_racing_on_one_event_fire_once(db_url: str, tmp_path: Path) -> None:
    runtime = settings(db_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    try:
        with WebhookReceiver() as hook:
            created = await runtime.alarms.create(
                new_alarm("race", {"event_type": "compute.instance.update"}, (hook.url,)), ACTOR
            )
            other = AlarmEvaluator(runtime.store, runtime.bus, runtime.alarms, resync_interval=0)
            await other.reload()
            mine = runtime.alarm_evaluator
            assert mine is not None
            e = vm_error()
            results = await asyncio.gather(
                *(ev.fire(ev.index.by_id[created.alarm_id], e) for ev in (mine, other, mine, other))
            )
            assert sorted(results) == [False, False, False, True]
            delivered = await asyncio.to_thread(hook.wait_for, 1)
            assert len(delivered) == 1  # by the notifier role, from the bus
            history = await runtime.alarms.history(created.alarm_id, None)
            assert [h["type"] for h in history].count("state transition") == 1
            assert (await runtime.alarms.get(created.alarm_id)).state == ALARM
    finally:
        await runtime.stop()


async def test_changes_take_effect_on_the_very_next_event(tmp_path: Path, sqlite_url: str) -> None:
    runtime = settings(sqlite_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    evaluator = runtime.alarm_evaluator
    assert evaluator is not None
    try:
        created = await runtime.alarms.create(
            new_alarm("fresh", {"event_type": "compute.instance.update"}), ACTOR
        )
        # no waiting: the index was updated synchronously by the create
        assert [c.alarm_id for c in evaluator.index.matching(vm_error())] == [created.alarm_id]

        disabled = await runtime.alarms.replace(replace(created, enabled=False), ACTOR)
        assert evaluator.index.matching(vm_error()) == []
        await runtime.alarms.replace(replace(disabled, enabled=True), ACTOR)
        assert evaluator.index.matching(vm_error())
        await runtime.alarms.delete(created.alarm_id, ACTOR)
        assert evaluator.index.matching(vm_error()) == []
    finally:
        await runtime.stop()


async def test_a_stale_definition_is_not_fired(tmp_path: Path, sqlite_url: str) -> None:
    """Another process changed the alarm and this one has not heard yet: the store refuses the
    fire, the fresh definition is read and evaluated instead."""
    runtime = settings(sqlite_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    evaluator = runtime.alarm_evaluator
    assert evaluator is not None
    try:
        created = await runtime.alarms.create(
            new_alarm("stale", {"event_type": "compute.instance.update"}), ACTOR
        )
        stale = evaluator.index.by_id[created.alarm_id]
        runtime.alarms.listeners.remove(evaluator.on_change)  # simulate: change made elsewhere

        await runtime.alarms.replace(
            replace(created, rule=parse_event_rule({"event_type": "port.update.end"})), ACTOR
        )
        assert await evaluator.fire(stale, vm_error()) is False
        assert (await runtime.alarms.get(created.alarm_id)).state != ALARM
        assert evaluator.index.by_id[created.alarm_id].alarm.rule.event_type == "port.update.end"
    finally:
        await runtime.stop()


async def test_published_event_fires_through_the_bus(tmp_path: Path, sqlite_url: str) -> None:
    runtime = settings(sqlite_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    try:
        with WebhookReceiver() as hook:
            await runtime.alarms.create(
                new_alarm(
                    "bus",
                    {
                        "event_type": "compute.instance.*",
                        "query": [{"field": "traits.instance_id", "op": "eq", "value": "vm-1"}],
                    },
                    (hook.url + "/x",),
                ),
                ACTOR,
            )
            await runtime.bus.publish(vm_error("vm-2"))
            traced = replace(vm_error("vm-1"), trace=TraceContext("trace-1", parent="span-5"))
            await runtime.bus.publish(traced)
            body = (await asyncio.to_thread(hook.wait_for, 1))[0]
            assert body["current"] == "alarm"
            assert body["reason_data"]["event"]["traits"]["instance_id"] == "vm-1"
            # the trace reaches the consumer in the profiler's header
            assert hook.headers[0]["X-Stateward-Trace"] == "trace-1;parent=span-5"
            # and the evaluator stamped its checkpoints into the profile
            await asyncio.wait_for(runtime.profile_recorder.flush(), 10)
            profile = await runtime.profiles.get("trace-1")
            assert {"T06", "T07", "T08"} <= set(profile.present)
    finally:
        await runtime.stop()


def _metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_notifier_retries_with_backoff_and_counts_outcomes(tmp_path: Path) -> None:
    from stateward.config import AlarmsConfig
    from stateward.services.alarm_notifier import AlarmNotifier

    notifier = AlarmNotifier(
        AlarmsConfig(
            notifier_retries=3,
            notifier_backoff=0.01,
            notifier_timeout=2,
            action_open=["127.0.0.0/8"],  # the receivers are on loopback
        )
    )
    await notifier.start()
    try:
        with WebhookReceiver(status=503) as failing, WebhookReceiver() as ok:
            a = new_alarm(
                "notify",
                {"event_type": "*"},
                (failing.url + "/down", ok.url + "/up", "log://", "http://169.254.169.254/x"),
            )
            before = {
                outcome: _metric(
                    "stateward_alarm_notifications_total", scheme=scheme, outcome=outcome
                )
                for scheme, outcome in (
                    ("http", "delivered"),
                    ("http", "failed"),
                    ("http", "retried"),
                    ("http", "refused"),
                    ("log", "logged"),
                )
            }
            notifier.notify(a, "ok", ALARM, "because", {"type": "event"})
            await notifier.drain()
            assert len(failing.received) == 4  # first attempt + 3 retries
            assert ok.received[0]["current"] == ALARM and ok.received[0]["previous"] == "ok"

            def delta(scheme: str, outcome: str) -> float:
                now = _metric("stateward_alarm_notifications_total", scheme=scheme, outcome=outcome)
                return now - before[outcome]

            assert delta("http", "delivered") == 1
            assert delta("http", "failed") == 1
            assert delta("http", "retried") == 3
            assert delta("http", "refused") == 1  # link-local, refused at send time too
            assert delta("log", "logged") == 1
    finally:
        await notifier.stop()


async def test_resync_keeps_changes_made_while_it_rebuilds(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = settings(sqlite_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    evaluator = runtime.alarm_evaluator
    assert evaluator is not None
    try:
        rule = {"event_type": "compute.instance.update"}
        kept = await runtime.alarms.create(new_alarm("kept", rule), ACTOR)
        doomed = await runtime.alarms.create(new_alarm("doomed", rule), ACTOR)
        added: list[Alarm] = []
        read_snapshot = AlarmRepository.stream_all

        async def snapshot_then_changes(repo: AlarmRepository, batch: int = 5000) -> list[Alarm]:
            rows = await read_snapshot(repo, batch)
            # committed after the rebuild read its snapshot, before it replaces the index
            added.append(await runtime.alarms.create(new_alarm("added", rule), ACTOR))
            await runtime.alarms.delete(doomed.alarm_id, ACTOR)
            return rows

        monkeypatch.setattr(AlarmRepository, "stream_all", snapshot_then_changes)
        await evaluator.reload()
        assert {c.alarm_id for c in evaluator.index.matching(vm_error())} == {
            kept.alarm_id,
            added[0].alarm_id,
        }
    finally:
        await runtime.stop()


async def test_a_burst_of_matching_events_fires_every_alarm_in_shared_commits(
    db_url: str, tmp_path: Path
) -> None:
    """One host's 50 VMs going to error: 50 alarms fire, in far fewer than 50 transactions."""
    from prometheus_client import REGISTRY

    def batches() -> tuple[float, float]:
        count = REGISTRY.get_sample_value("stateward_alarm_fire_batch_size_count") or 0.0
        total = REGISTRY.get_sample_value("stateward_alarm_fire_batch_size_sum") or 0.0
        return count, total

    runtime = settings(db_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    try:
        with WebhookReceiver() as hook:
            for n in range(50):
                await runtime.alarms.create(
                    new_alarm(
                        f"vm-{n}",
                        {
                            "event_type": "compute.instance.update",
                            "query": [
                                {"field": "traits.instance_id", "op": "eq", "value": f"vm-{n}"},
                                {"field": "traits.state", "op": "eq", "value": "error"},
                            ],
                        },
                        (hook.url,),
                    ),
                    ACTOR,
                )
            before_count, before_sum = batches()
            for n in range(50):
                await runtime.bus.publish(vm_error(f"vm-{n}"))
            for _ in range(500):  # generous bound: every fire committed
                if batches()[1] - before_sum >= 50:
                    break
                await asyncio.sleep(0.02)
            after_count, after_sum = batches()
        assert after_sum - before_sum == 50
        assert after_count - before_count < 50
        async with runtime.store.uow(readonly=True) as uow:
            repo = AlarmRepository(uow)
            states = [(await repo.get(a)).state for a in runtime.alarm_evaluator.index.by_id]  # type: ignore[union-attr]
        assert states == [ALARM] * 50
    finally:
        await runtime.stop()
