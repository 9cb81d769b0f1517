"""Each role on the fault path stamps its checkpoints where it happens: a monitor's raw failure
and a liveness deadline both give a profile with T00..T10 in order (the consumer is real and
receives the webhooks over HTTP; the server runs in this test's event loop)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from stateward.profiler.model import NAMES, Profile
from stateward.testing.consumer import Consumer
from tests.integration.test_host_faults import make_servers
from tests.support.inproc import Stack, stack


async def _alarms(s: Stack, servers: list[str], url: str) -> None:
    headers = await s.headers()
    for sid in servers:
        await s.call(
            "POST",
            "/v2/alarms",
            headers=headers,
            expect=201,
            json={
                "name": f"{sid}-error",
                "type": "event",
                "event_rule": {
                    "event_type": "compute.instance.update",
                    "query": [
                        {"field": "traits.instance_id", "op": "eq", "value": sid},
                        {"field": "traits.state", "op": "eq", "value": "error"},
                    ],
                },
                "alarm_actions": [url],
            },
        )


async def _profile(s: Stack, trace_id: str, consumer: Consumer) -> Profile:
    """The stored profile plus the consumer's T09/T10 (posted as a consumer would)."""
    first = next(a for a in consumer.received if a.trace_id == trace_id)
    await s.call(
        "POST",
        f"/v1/profiles/{trace_id}/checkpoints",
        headers=await s.headers(),
        expect=200,
        json={"checkpoints": {"T09": first.received, "T10": first.handled}},
    )
    await asyncio.wait_for(s.runtime.profile_recorder.flush(), 10)
    return await s.runtime.profiles.get(trace_id)


def _ordered(profile: Profile) -> None:
    assert profile.present == list(NAMES), profile.missing
    times = [profile.checkpoints[n] for n in NAMES]
    assert times == sorted(times), [(n, t - times[0]) for n, t in zip(NAMES, times, strict=True)]


async def test_a_monitor_raw_failure_is_profiled_from_the_monitor_s_time(
    tmp_path: Path, db_url: str
) -> None:
    async with stack(tmp_path, db_url) as s, Consumer(post_back=False) as consumer:
        await s.add_chassis("h1")
        servers = await make_servers(s, "h1", 5)
        await _alarms(s, servers, consumer.url)
        sent = time.time()
        event_time = datetime.fromtimestamp(sent, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        r = await s.call(
            "PUT",
            "/v1/inspector/events",
            headers=await s.headers(),
            expect=200,
            json=[
                {
                    "time": event_time,
                    "type": "compute.host.down",
                    "details": {"hostname": "h1", "status": "down", "monitor": "m"},
                }
            ],
        )
        trace_id = r.json()["events"][0]["trace_id"]
        alarms = await consumer.wait_for(lambda a: len(a) >= 5)
        assert {a.trace_id for a in alarms} == {trace_id}  # the webhook header carried it
        assert sorted(a.alarm_name for a in alarms) == sorted(f"{i}-error" for i in servers)
        profile = await _profile(s, trace_id, consumer)
        _ordered(profile)
        assert abs(profile.checkpoints["T00"] - sent) < 1e-3  # the monitor's own time
        assert profile.checkpoint_meta["T02"]["vms"] == 5  # from the host index


async def test_a_missed_liveness_deadline_is_profiled_from_the_deadline(
    tmp_path: Path, db_url: str
) -> None:
    # Generous enough that a busy CI machine's stalled loop never misses a whole window.
    down_time = 2.0
    overrides = {"liveness.report_interval": 0.25, "liveness.chassis_down_time": down_time}
    async with stack(tmp_path, db_url, **overrides) as s, Consumer(post_back=False) as consumer:
        await s.add_chassis("h1")

        async def heartbeat() -> None:  # the chassis reports until its "agent" dies
            while True:
                await s.runtime.liveness.report("h1", None)
                await asyncio.sleep(0.25)

        beating = asyncio.create_task(heartbeat())
        servers = await make_servers(s, "h1", 3)
        await _alarms(s, servers, consumer.url)
        await asyncio.sleep(0.3)
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        views = await s.call(
            "GET",
            "/compute/v2.1/servers/detail?all_tenants=True",
            headers=await s.headers(),
            expect=200,
        )
        assert {v["status"] for v in views.json()["servers"]} == {"ACTIVE"}  # alive until now
        alarms = await consumer.wait_for(lambda a: len(a) >= 3, timeout=30)
        [trace_id] = {a.trace_id for a in alarms}
        assert trace_id is not None
        profile = await _profile(s, trace_id, consumer)
        _ordered(profile)
        last_seen = datetime.fromisoformat(profile.checkpoint_meta["T00"]["last_seen"])
        # T00 is the deadline: the last report + chassis_down_time
        assert profile.checkpoints["T00"] >= last_seen.timestamp() + down_time - 1e-3
        assert profile.checkpoint_meta["T01"]["monitor"] == "stateward-liveness"
