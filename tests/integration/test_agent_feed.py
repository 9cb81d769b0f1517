"""The per-chassis agent feed through the API: snapshots, changes, routing, resync, long-poll.

Every scenario checks the feed's invariant as an agent would rely on it: replaying a chassis'
changes from the start gives exactly its snapshot. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stateward.domain.agent_feed import Change, FeedCache, FeedObject, Outcome
from tests.support.api import ApiHarness, api_harness

NET = "/networking/v2.0/networks"
SUBNETS = "/networking/v2.0/subnets"
PORTS = "/networking/v2.0/ports"


@pytest.fixture
async def h(tmp_path: Path, db_url: str) -> Any:
    async with api_harness(tmp_path, db_url, **{"logging.level": "WARNING"}) as harness:
        yield harness


class Feeds:
    """Reads chassis feeds as admin, as an agent would."""

    def __init__(self, h: ApiHarness, token: str) -> None:
        self.h, self.token = h, token

    async def register(self, name: str, ip: str, types: list[str] | None = None) -> None:
        body = {"chassis": {"ip": ip, "tunnel_types": types or ["vxlan", "geneve", "gre"]}}
        r = await self.h.call("PUT", f"/v1/chassis/{name}", self.token, json=body)
        assert r.status_code in (200, 201), r.text

    async def snapshot(self, name: str) -> dict[str, Any]:
        r = await self.h.call("GET", f"/v1/chassis/{name}/feed/snapshot", self.token)
        assert r.status_code == 200, r.text
        return dict(r.json()["feed"])

    async def page(self, name: str, since: int, epoch: str | None = None, **params: Any) -> Any:
        query: dict[str, Any] = {"since": since, **params}
        if epoch:
            query["epoch"] = epoch
        r = await self.h.call("GET", f"/v1/chassis/{name}/feed", self.token, params=query)
        assert r.status_code == 200, r.text
        return r.json()["feed"]

    async def replay(self, name: str) -> FeedCache:
        """The chassis' whole log applied to an empty cache."""
        snap = await self.snapshot(name)
        cache = FeedCache(epoch=snap["epoch"], seq=0)
        while True:
            page = await self.page(name, cache.seq, cache.epoch)
            assert page["resync"] is None, page
            outcome, _ = cache.apply(page["epoch"], [Change.from_dict(c) for c in page["changes"]])
            assert outcome in (Outcome.APPLIED, Outcome.STALE)
            if not page["more"]:
                return cache

    async def check(self, name: str) -> dict[str, dict[str, dict[str, Any]]]:
        """Replay == snapshot; returns the objects."""
        snap = await self.snapshot(name)
        replayed = await self.replay(name)
        expected = FeedCache()
        expected.load(
            snap["epoch"], snap["seq"], [FeedObject.from_dict(o) for o in snap["objects"]]
        )
        assert replayed.seq == snap["seq"]
        assert replayed.objects == expected.objects
        return expected.objects


async def network(h: ApiHarness, token: str, kind: str = "vxlan") -> str:
    r = await h.call(
        "POST", NET, token, json={"network": {"name": "n", "provider:network_type": kind}}
    )
    assert r.status_code == 201, r.text
    net_id = str(r.json()["network"]["id"])
    r = await h.call(
        "POST", SUBNETS, token, json={"subnet": {"network_id": net_id, "cidr": "10.9.0.0/24"}}
    )
    assert r.status_code == 201, r.text
    return net_id


async def port(h: ApiHarness, token: str, net_id: str, **attrs: Any) -> dict[str, Any]:
    r = await h.call("POST", PORTS, token, json={"port": {"network_id": net_id, **attrs}})
    assert r.status_code == 201, r.text
    return dict(r.json()["port"])


def kinds(objects: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    return {k: set(v) for k, v in objects.items() if v}


async def test_views_follow_ports_networks_and_chassis(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    feeds = Feeds(h, admin)
    await feeds.register("ch-a", "10.250.0.1")
    await feeds.register("ch-b", "10.250.0.2")
    await feeds.register("ch-c", "10.250.0.3")
    net_id = await network(h, admin)
    assert kinds(await feeds.check("ch-a")) == {}

    p1 = await port(h, admin, net_id, **{"binding:host_id": "ch-a"})
    a = await feeds.check("ch-a")
    assert kinds(a) == {"network": {net_id}, "port": {p1["id"]}, "chassis": {"ch-a"}}
    assert a["network"][net_id]["local_key"] >= 1
    assert a["port"][p1["id"]]["tunnel_key"] >= 1
    assert a["port"][p1["id"]]["chassis"] == "ch-a"
    assert kinds(await feeds.check("ch-b")) == {}

    p2 = await port(h, admin, net_id, **{"binding:host_id": "ch-b"})
    a, b = await feeds.check("ch-a"), await feeds.check("ch-b")
    assert (
        kinds(a)
        == kinds(b)
        == {
            "network": {net_id},
            "port": {p1["id"], p2["id"]},
            "chassis": {"ch-a", "ch-b"},
        }
    )
    assert a["port"][p2["id"]]["tunnel_key"] != a["port"][p1["id"]]["tunnel_key"]

    # a port in another cloud: no chassis of its own, its host IP in the port
    far = await port(
        h, admin, net_id, **{"binding:profile": {"port_key": "remote_port", "host_ip": "10.99.0.7"}}
    )
    a = await feeds.check("ch-a")
    assert a["port"][far["id"]]["remote_ip"] == "10.99.0.7"
    assert a["port"][far["id"]]["chassis"] is None
    assert kinds(a)["chassis"] == {"ch-a", "ch-b"}

    # a chassis IP change: one entry for each chassis sharing a network with it, none for others
    heads = {n: (await feeds.snapshot(n))["seq"] for n in ("ch-a", "ch-b", "ch-c")}
    await feeds.register("ch-b", "10.250.0.22")
    for name in ("ch-a", "ch-b"):
        page = await feeds.page(name, heads[name])
        assert [(c["kind"], c["key"], c["op"]) for c in page["changes"]] == [
            ("chassis", "ch-b", "put")
        ]
        assert page["changes"][0]["data"]["ip"] == "10.250.0.22"
    assert (await feeds.page("ch-c", heads["ch-c"]))["changes"] == []
    assert (await feeds.check("ch-a"))["chassis"]["ch-b"]["ip"] == "10.250.0.22"

    # deleting the remote port removes only that port
    head = (await feeds.snapshot("ch-a"))["seq"]
    assert (await h.call("DELETE", f"{PORTS}/{p2['id']}", admin)).status_code == 204
    page = await feeds.page("ch-a", head)
    assert {(c["kind"], c["key"], c["op"]) for c in page["changes"]} == {
        ("port", p2["id"], "delete"),
        ("chassis", "ch-b", "delete"),
    }
    # ...and ch-b, whose last port it was, loses the whole network
    assert kinds(await feeds.check("ch-b")) == {}
    assert kinds(await feeds.check("ch-a")) == {
        "network": {net_id},
        "port": {p1["id"], far["id"]},
        "chassis": {"ch-a"},
    }


async def test_moving_a_port_and_registering_late(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    feeds = Feeds(h, admin)
    await feeds.register("ch-a", "10.250.0.1")
    net_id = await network(h, admin, "geneve")
    p1 = await port(h, admin, net_id, **{"binding:host_id": "ch-a"})
    # bound to a host that registers later: listed, without a chassis object yet
    p2 = await port(h, admin, net_id, **{"binding:host_id": "ch-late"})
    assert kinds(await feeds.check("ch-a")) == {
        "network": {net_id},
        "port": {p1["id"], p2["id"]},
        "chassis": {"ch-a"},
    }
    await feeds.register("ch-late", "10.250.0.9")
    assert kinds(await feeds.check("ch-a"))["chassis"] == {"ch-a", "ch-late"}
    assert kinds(await feeds.check("ch-late"))["port"] == {p1["id"], p2["id"]}

    # move p1 from ch-a to ch-late: ch-a has no port left there and loses the network
    r = await h.call(
        "PUT", f"{PORTS}/{p1['id']}", admin, json={"port": {"binding:host_id": "ch-late"}}
    )
    assert r.status_code == 200, r.text
    assert kinds(await feeds.check("ch-a")) == {}
    late = await feeds.check("ch-late")
    assert late["port"][p1["id"]]["chassis"] == "ch-late"
    assert kinds(late)["chassis"] == {"ch-late"}

    # deleting a chassis forgets its feed: its next snapshot is another epoch
    epoch = (await feeds.snapshot("ch-a"))["epoch"]
    assert (await h.call("DELETE", "/v1/chassis/ch-a?force=true", admin)).status_code == 204
    gone = await h.call("GET", "/v1/chassis/ch-a/feed", admin, params={"since": 0})
    assert gone.status_code == 404
    await feeds.register("ch-a", "10.250.0.1")
    assert (await feeds.page("ch-a", 3, epoch))["resync"]
    assert (await feeds.snapshot("ch-a"))["epoch"] != epoch


async def test_status_updates_route_nothing(h: ApiHarness) -> None:
    """A host fault's data-plane status updates change no agent's view: no entries at all."""
    admin = await h.token("admin", "admin")
    feeds = Feeds(h, admin)
    await feeds.register("ch-a", "10.250.0.1")
    net_id = await network(h, admin)
    p1 = await port(h, admin, net_id, **{"binding:host_id": "ch-a"})
    head = (await feeds.snapshot("ch-a"))["seq"]
    for body in ({"data_plane_status": "DOWN"}, {"status": "ACTIVE"}, {"name": "renamed"}):
        r = await h.call("PUT", f"{PORTS}/{p1['id']}", admin, json={"port": body})
        assert r.status_code == 200, r.text
    assert (await feeds.snapshot("ch-a"))["seq"] == head


async def test_resync_answers(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    feeds = Feeds(h, admin)
    await feeds.register("ch-a", "10.250.0.1")
    snap = await feeds.snapshot("ch-a")
    assert (await feeds.page("ch-a", snap["seq"], "not-the-epoch"))["resync"] == "epoch changed"
    assert (await feeds.page("ch-a", snap["seq"] + 5, snap["epoch"]))["resync"]
    unknown = await h.call("GET", "/v1/chassis/nope/feed/snapshot", admin)
    assert unknown.status_code == 404
    bad = await h.call("GET", "/v1/chassis/ch-a/feed", admin, params={"since": -1})
    assert bad.status_code == 400

    net_id = await network(h, admin)
    await port(h, admin, net_id, **{"binding:host_id": "ch-a"})
    h.runtime.settings.feed.retention = 0.001
    await asyncio.sleep(0.01)
    assert await h.runtime.feed.prune() >= 3
    page = await feeds.page("ch-a", 0, snap["epoch"])
    assert page["resync"] == "changes pruned"
    # a fresh snapshot is still whole, and nothing is pending after it
    after = await feeds.snapshot("ch-a")
    assert (await feeds.page("ch-a", after["seq"], after["epoch"]))["changes"] == []


async def test_agents_need_service_or_admin(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    await Feeds(h, admin).register("ch-a", "10.250.0.1")
    member = await h.principal("alice", "pa", "member")
    assert (await h.call("GET", "/v1/chassis/ch-a/feed/snapshot", member)).status_code == 403
    service = await h.principal("agent", "service", "service")
    assert (await h.call("GET", "/v1/chassis/ch-a/feed/snapshot", service)).status_code == 200
    assert (await h.call("GET", "/v1/chassis/ch-a/feed/snapshot")).status_code == 401


async def test_long_poll_returns_when_a_change_commits(h: ApiHarness) -> None:
    admin = await h.token("admin", "admin")
    feeds = Feeds(h, admin)
    await feeds.register("ch-a", "10.250.0.1")
    net_id = await network(h, admin)
    snap = await feeds.snapshot("ch-a")
    waiting = asyncio.create_task(feeds.page("ch-a", snap["seq"], snap["epoch"], wait=30))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    p1 = await port(h, admin, net_id, **{"binding:host_id": "ch-a"})
    page = await asyncio.wait_for(waiting, timeout=10)
    assert ("port", p1["id"], "put") in {(c["kind"], c["key"], c["op"]) for c in page["changes"]}
    # nothing new: an empty answer once the wait is over
    empty = await feeds.page("ch-a", page["seq"], page["epoch"], wait=0.2)
    assert empty["changes"] == [] and empty["resync"] is None
