"""The agent feed with two server processes on PostgreSQL + NATS.

Writes go through both processes at once while two agents' feed clients follow their chassis:
one long-polling over HTTP the process that is NOT writing (woken across processes), one on
NATS. Every change is ordered once per chassis (the clients never apply past a gap), and each
client's cache ends equal to its snapshot. Then one process is killed with SIGKILL in the
middle of writes: every write it acknowledged is in the feed the other process serves.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from stateward.agent.client import Credentials, ServerClient
from stateward.agent.feed import FeedClient, FeedUpdate
from stateward.bus.nats import NatsBus
from stateward.config import BusConfig
from stateward.domain.agent_feed import FeedCache, FeedObject
from tests.support.server import LiveServer, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.nats]

PORTS = "/networking/v2.0/ports"


async def snapshot(server: LiveServer, token: str, chassis: str) -> FeedCache:
    async with httpx.AsyncClient(base_url=server.url, headers={"X-Auth-Token": token}) as c:
        r = await c.get(f"/v1/chassis/{chassis}/feed/snapshot")
        r.raise_for_status()
        feed = r.json()["feed"]
    cache = FeedCache()
    cache.load(feed["epoch"], feed["seq"], [FeedObject.from_dict(o) for o in feed["objects"]])
    return cache


async def converged(
    client: FeedClient, server: LiveServer, token: str, timeout: float = 30
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        expected = await snapshot(server, token, client.chassis)
        if client.cache.seq == expected.seq and client.cache.objects == expected.objects:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"{client.chassis}: cache at {client.cache.seq}, feed at {expected.seq}"
            )
        await asyncio.sleep(0.1)


async def test_two_processes_feed_two_agents(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {"STATEWARD_BUS__STREAM": subject_prefix, "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix}
    s1 = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="s1")
    s2 = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="s2")
    bus = NatsBus(BusConfig(url=nats_url, stream=subject_prefix, subject_prefix=subject_prefix))
    await bus.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        token = s1.token()
        headers = {"X-Auth-Token": token}
        h1 = httpx.AsyncClient(base_url=s1.url, headers=headers, timeout=30)
        h2 = httpx.AsyncClient(base_url=s2.url, headers=headers, timeout=30)
        for i, name in enumerate(("c1", "c2", "c3")):
            r = await h1.put(f"/v1/chassis/{name}", json={"chassis": {"ip": f"10.250.0.{i + 1}"}})
            assert r.status_code == 201, r.text
        nets = []
        for kind in ("vxlan", "gre"):
            r = await h1.post(
                "/networking/v2.0/networks",
                json={"network": {"name": kind, "provider:network_type": kind}},
            )
            nets.append(r.json()["network"]["id"])

        # agent c1 long-polls s2 over HTTP; agent c2 listens on NATS (checks s2 as fallback)
        http_agent = FeedClient(ServerClient([s2.url], Credentials(token=token)), "c1", wait=5.0)
        nats_agent = FeedClient(
            ServerClient([s2.url], Credentials(token=token)), "c2", bus=bus, check_interval=5.0
        )
        seen: list[tuple[str, int]] = []

        def recorder(name: str) -> Any:
            async def record(update: FeedUpdate) -> None:
                seen.extend((name, c.seq) for c in update.changes)

            return record

        http_agent.add_handler(recorder("c1"))
        nats_agent.add_handler(recorder("c2"))
        tasks = [asyncio.create_task(a.run()) for a in (http_agent, nats_agent)]
        await asyncio.wait_for(http_agent.synced.wait(), 20)
        await asyncio.wait_for(nats_agent.synced.wait(), 20)

        async def write(i: int) -> str:
            client = h1 if i % 2 else h2  # both processes write at once
            host = ("c1", "c2", "c3")[i % 3]
            r = await client.post(
                PORTS,
                json={"port": {"network_id": nets[i % 2], "binding:host_id": host}},
            )
            assert r.status_code == 201, r.text
            port_id = str(r.json()["port"]["id"])
            if i % 5 == 0:  # moves and deletes interleaved with creates
                r = await client.put(f"{PORTS}/{port_id}", json={"port": {"binding:host_id": "c3"}})
                assert r.status_code == 200, r.text
            if i % 7 == 0:
                assert (await client.delete(f"{PORTS}/{port_id}")).status_code == 204
            return port_id

        await asyncio.gather(*(write(i) for i in range(40)))
        await converged(http_agent, s2, token)
        await converged(nats_agent, s2, token)
        for name in ("c1", "c2"):
            numbers = [seq for who, seq in seen if who == name]
            assert numbers == sorted(numbers) and len(numbers) == len(set(numbers))
        assert len(http_agent.cache.of("port")) > 10

        # SIGKILL s1 while it takes writes: what it acknowledged is in the feed s2 serves
        acknowledged: list[str] = []
        enough = asyncio.Event()

        async def write_to_s1() -> None:
            while True:
                try:
                    r = await h1.post(
                        PORTS, json={"port": {"network_id": nets[0], "binding:host_id": "c1"}}
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acknowledged.append(r.json()["port"]["id"])
                    if len(acknowledged) >= 10:
                        enough.set()

        burst = [asyncio.create_task(write_to_s1()) for _ in range(8)]
        await asyncio.wait_for(enough.wait(), 60)
        s1.stop(signal.SIGKILL)
        await asyncio.gather(*burst)
        assert acknowledged
        await converged(http_agent, s2, token)
        ports = http_agent.cache.of("port")
        assert set(acknowledged) <= set(ports)
        await h1.aclose()
        await h2.aclose()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
        s1.stop()
        s2.stop()
