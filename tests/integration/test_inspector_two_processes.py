"""Two serve processes on PostgreSQL + NATS: a host fault reported to both at once, and a
chassis.down on the bus, each move the servers exactly once; both processes' indexes agree."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from stateward.bus.nats import NatsBus
from stateward.config import BusConfig
from stateward.domain.events import Envelope
from tests.support.hosts import add_chassis_async, server_db_url
from tests.support.server import LiveServer, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.nats]


def _register(server: LiveServer, token: str, host: str, n: int) -> list[str]:
    ids = []
    with server.client(token, **{"OpenStack-API-Version": "compute 2.74"}) as c:
        for i in range(n):
            r = c.post(
                "/compute/v2.1/servers",
                json={
                    "server": {
                        "name": f"{host}-{i}",
                        "flavorRef": "1",
                        "host": host,
                    }
                },
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["server"]["id"])
    return ids


def _report(server: LiveServer, token: str, host: str, event_id: str) -> str:
    body = [
        {
            "time": "2026-11-22T00:00:00",
            "type": "compute.host.down",
            "details": {
                "hostname": host,
                "status": "down",
                "monitor": f"m-{event_id}",
                "monitor_event_id": event_id,
            },
        }
    ]
    with server.client(token) as c:
        r = c.put("/v1/inspector/events", json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["events"][0]["outcome"])


def _host(server: LiveServer, token: str, host: str) -> dict[str, Any]:
    with server.client(token) as c:
        return dict(c.get(f"/v1/hosts/{host}").json()["host"])


async def test_host_fault_applied_once_across_two_processes(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {
        "STATEWARD_BUS__STREAM": subject_prefix,
        "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix,
        "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "3600",
        # 25 servers in one project: beyond Nova's default quota of 10
        "STATEWARD_QUOTAS__DEFAULTS": '{"instances": -1, "cores": -1, "ram": -1}',
    }
    s1 = await asyncio.to_thread(
        start_server, tmp_path, db=pg_url, bus=nats_url, env=env, name="s1"
    )
    s2 = await asyncio.to_thread(
        start_server, tmp_path, db=pg_url, bus=nats_url, env=env, name="s2"
    )
    bus = NatsBus(
        BusConfig(url=nats_url, stream=subject_prefix, subject_prefix=subject_prefix),
        name="test-recorder",
    )
    await bus.start()
    seen: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope)

    try:
        await bus.subscribe("compute.>", record)
        await add_chassis_async(server_db_url(s1), [("h1", "192.0.2.1"), ("h2", "192.0.2.2")])
        token = await asyncio.to_thread(s1.token)
        h1 = await asyncio.to_thread(_register, s1, token, "h1", 20)
        h2 = await asyncio.to_thread(_register, s2, token, "h2", 5)
        # Both processes' indexes learn every server, whichever process registered it.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            counts = [
                (await asyncio.to_thread(_host, s, token, h))["servers"]
                for s in (s1, s2)
                for h in ("h1", "h2")
            ]
            if counts == [20, 5, 20, 5]:
                break
            await asyncio.sleep(0.1)
        assert counts == [20, 5, 20, 5]

        # Two monitors report h1 at the same moment, one to each process.
        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(
                pool.map(lambda a: _report(*a), [(s1, token, "h1", "a"), (s2, token, "h1", "b")])
            )
        assert outcomes == ["already_down", "host_down"]

        # liveness says h2 is down: one process of the inspector group handles it.
        await bus.publish(
            Envelope(
                event_type="chassis.down",
                publisher_id="liveness",
                resource_id="h2",
                traits={
                    "host": "h2",
                    "chassis": "h2",
                    "ip": "192.0.2.2",
                    "generation": 1,
                    "last_seen": None,
                },
            )
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len([e for e in seen if e.event_type == "compute.instance.update"]) >= 25:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
        updates = [e for e in seen if e.event_type == "compute.instance.update"]
        assert sorted(e.traits["instance_id"] for e in updates) == sorted(h1 + h2)
        assert all(e.traits["state"] == "error" for e in updates)
        assert len([e for e in seen if e.event_type == "compute.host.down"]) == 2
        h2_faults = (await asyncio.to_thread(_host, s2, token, "h2"))["faults"]
        assert [(f["monitor"], f["outcome"]) for f in h2_faults] == [
            ("stateward-liveness", "host_down")
        ]
    finally:
        await bus.close()
        s1.stop()
        s2.stop()
