"""The agent's feed client against the real API and bus (in process): it follows signals,
catches up over HTTP on a gap or a lost signal, and takes a snapshot when the feed says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stateward.agent.client import Credentials, ServerClient
from stateward.agent.feed import FeedClient, FeedUpdate
from stateward.api.app import create_app
from stateward.domain.agent_feed import FeedCache, FeedObject
from tests.support.api import ApiHarness, api_harness

PORTS = "/networking/v2.0/ports"


@pytest.fixture
async def h(tmp_path: Path, sqlite_url: str) -> AsyncIterator[ApiHarness]:
    async with api_harness(tmp_path, sqlite_url, **{"logging.level": "WARNING"}) as harness:
        yield harness


async def client_for(h: ApiHarness, token: str, *, bus: bool) -> FeedClient:
    server = ServerClient(["http://testserver"], Credentials(token=token))
    await server.close()
    app = create_app(h.runtime, manage_lifecycle=False)
    server._http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return FeedClient(
        server, "ch-a", bus=h.runtime.bus if bus else None, wait=2.0, check_interval=0.5
    )


async def snapshot(h: ApiHarness, token: str) -> FeedCache:
    feed = (await h.call("GET", "/v1/chassis/ch-a/feed/snapshot", token)).json()["feed"]
    cache = FeedCache()
    cache.load(feed["epoch"], feed["seq"], [FeedObject.from_dict(o) for o in feed["objects"]])
    return cache


async def converged(client: FeedClient, h: ApiHarness, token: str) -> None:
    async def check() -> None:
        while True:
            expected = await snapshot(h, token)
            if (client.cache.seq, client.cache.objects) == (expected.seq, expected.objects):
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(check(), 30)


async def setup(h: ApiHarness) -> tuple[str, str]:
    admin = await h.token("admin", "admin")
    for name, ip in (("ch-a", "10.250.0.1"), ("ch-b", "10.250.0.2")):
        r = await h.call("PUT", f"/v1/chassis/{name}", admin, json={"chassis": {"ip": ip}})
        assert r.status_code == 201, r.text
    r = await h.call("POST", "/networking/v2.0/networks", admin, json={"network": {"name": "n"}})
    return admin, str(r.json()["network"]["id"])


async def add_port(h: ApiHarness, token: str, net: str, host: str) -> str:
    r = await h.call(
        "POST", PORTS, token, json={"port": {"network_id": net, "binding:host_id": host}}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["port"]["id"])


@pytest.mark.parametrize("bus", [False, True], ids=["long-poll", "signals"])
async def test_follows_the_feed(h: ApiHarness, bus: bool) -> None:
    admin, net = await setup(h)
    client = await client_for(h, admin, bus=bus)
    updates: list[FeedUpdate] = []

    async def record(update: FeedUpdate) -> None:
        updates.append(update)

    client.add_handler(record)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.synced.wait(), 10)
        assert updates[0].resynced
        ports = [await add_port(h, admin, net, host) for host in ("ch-a", "ch-b", "ch-b")]
        await converged(client, h, admin)
        assert set(client.cache.of("port")) == set(ports)
        assert [u.resynced for u in updates].count(True) == 1  # no snapshot after the first
        applied = [c.seq for u in updates for c in u.changes]
        assert applied == list(range(1, client.cache.seq + 1))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.client.close()


async def test_a_gap_or_a_lost_signal_is_caught_up(h: ApiHarness) -> None:
    admin, net = await setup(h)
    client = await client_for(h, admin, bus=True)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.synced.wait(), 10)
        # stop hearing the server's signals: changes must still arrive (periodic check)
        assert client._sub is not None
        await client._sub.unsubscribe()
        await add_port(h, admin, net, "ch-a")
        await converged(client, h, admin)
        # a signal that skips numbers: nothing applied from it, the gap is fetched over HTTP
        seq, epoch = client.cache.seq, client.cache.epoch
        await add_port(h, admin, net, "ch-b")
        await add_port(h, admin, net, "ch-b")
        head = (await snapshot(h, admin)).seq
        fake = {
            "chassis": "ch-a",
            "epoch": epoch,
            "first": head,
            "last": head,
            "changes": [
                {"seq": head, "kind": "port", "key": "bogus", "op": "put", "data": {"id": "bogus"}}
            ],
        }
        assert head > seq + 1
        await client._on_signal("x", json.dumps(fake).encode())
        await converged(client, h, admin)
        assert "bogus" not in client.cache.of("port")
        # another epoch announced: the client asks the server, which says it is the same feed
        other: dict[str, Any] = {**fake, "epoch": "not-it", "changes": []}
        await client._on_signal("x", json.dumps(other).encode())
        await asyncio.sleep(0.2)
        assert client.cache.epoch == epoch
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.client.close()


async def test_pruned_entries_mean_a_snapshot(h: ApiHarness) -> None:
    admin, net = await setup(h)
    client = await client_for(h, admin, bus=False)
    await client.resync("start")
    behind = client.cache.seq
    await add_port(h, admin, net, "ch-a")
    h.runtime.settings.feed.retention = 0.001
    await asyncio.sleep(0.01)
    await h.runtime.feed.prune()
    updates: list[FeedUpdate] = []

    async def record(update: FeedUpdate) -> None:
        updates.append(update)

    client.add_handler(record)
    await client.catch_up()
    assert updates and updates[0].resynced and client.cache.seq > behind
    assert len(client.cache.of("port")) == 1
    await client.client.close()
