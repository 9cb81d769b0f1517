"""A raw failure for a host with 100 servers and 100 ports: every state, every notification.

Runs in-process (runtime + app + in-process bus) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stateward.domain.events import Envelope
from tests.support.inproc import Stack, stack

MV = "2.75"


async def make_network(s: Stack, cidr: str = "10.20.0.0/22") -> str:
    h = await s.headers()
    net = (
        await s.call(
            "POST",
            "/networking/v2.0/networks",
            json={"network": {"name": "n"}},
            headers=h,
            expect=201,
        )
    ).json()["network"]
    await s.call(
        "POST",
        "/networking/v2.0/subnets",
        headers=h,
        expect=201,
        json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}},
    )
    return str(net["id"])


async def make_ports(s: Stack, network_id: str, host: str, n: int) -> list[str]:
    h = await s.headers()
    ids = []
    for i in range(n):
        r = await s.call(
            "POST",
            "/networking/v2.0/ports",
            headers=h,
            expect=201,
            json={
                "port": {"network_id": network_id, "name": f"{host}-p{i}", "binding:host_id": host}
            },
        )
        ids.append(r.json()["port"]["id"])
    return ids


async def make_servers(s: Stack, host: str, n: int, mv: str = "2.74") -> list[str]:
    await s.unlimited_quotas()  # tests here go beyond Nova's default of 10 instances
    h = await s.headers(mv=mv)
    ids = []
    for i in range(n):
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            headers=h,
            expect=202,
            json={
                "server": {
                    "name": f"{host}-vm{i}",
                    "flavorRef": "1",
                    "host": host,
                }
            },
        )
        ids.append(r.json()["server"]["id"])
    return ids


def doctor_event(
    host: str, event_id: str | None, kind: str = "compute.host.down"
) -> list[dict[str, Any]]:
    details: dict[str, Any] = {
        "hostname": host,
        "status": "down" if kind.endswith("down") else "up",
        "monitor": "test-monitor",
    }
    if event_id is not None:
        details["monitor_event_id"] = event_id
    return [{"id": event_id, "time": "2026-11-22T00:00:00.000", "type": kind, "details": details}]


async def servers_on(s: Stack, host: str) -> dict[str, dict[str, Any]]:
    r = await s.call(
        "GET",
        f"/compute/v2.1/servers/detail?all_tenants=True&host={host}",
        headers=await s.headers(mv=MV),
        expect=200,
    )
    return {v["id"]: v for v in r.json()["servers"]}


async def ports_on(s: Stack, host: str) -> dict[str, dict[str, Any]]:
    r = await s.call(
        "GET",
        f"/networking/v2.0/ports?binding:host_id={host}",
        headers=await s.headers(),
        expect=200,
    )
    return {p["id"]: p for p in r.json()["ports"]}


async def service(s: Stack, host: str) -> dict[str, Any]:
    r = await s.call(
        "GET",
        f"/compute/v2.1/os-services?host={host}&binary=nova-compute",
        headers=await s.headers(mv=MV),
        expect=200,
    )
    [svc] = r.json()["services"]
    return dict(svc)


async def wait_index(s: Stack, host: str, servers: int, ports: int) -> None:
    index = s.runtime.inspector.index
    for _ in range(500):
        if len(index.server_ids(host)) == servers and len(index.port_ids(host)) == ports:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(
        f"index has {len(index.server_ids(host))} servers, {len(index.port_ids(host))} ports"
    )


async def test_raw_failure_for_a_host_with_100_servers_and_100_ports(
    tmp_path: Path, db_url: str
) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.add_chassis("h1", "h2")
        net = await make_network(s)
        ports = await make_ports(s, net, "h1", 100)
        other_port = (await make_ports(s, net, "h2", 1))[0]
        servers = await make_servers(s, "h1", 100)
        other_server = (await make_servers(s, "h2", 1))[0]
        admin = await s.headers(mv=MV)
        # One server already in error and one deleted: the seed says both are left alone.
        errored, deleted = servers[0], servers[1]
        await s.call(
            "POST",
            f"/compute/v2.1/servers/{errored}/action",
            headers=admin,
            json={"os-resetState": {"state": "error"}},
            expect=202,
        )
        await s.call("DELETE", f"/compute/v2.1/servers/{deleted}", headers=admin, expect=204)
        await wait_index(s, "h1", 99, 100)
        before = await servers_on(s, "h1")
        assert before[errored]["status"] == "ERROR"
        assert deleted not in before
        moving = [sid for sid in servers if sid not in (errored, deleted)]
        project = before[moving[0]]["tenant_id"]

        rec = await s.record()
        r = await s.call(
            "PUT",
            "/v1/inspector/events",
            headers=await s.headers(),
            json=doctor_event("h1", "e-1"),
            expect=200,
        )
        [outcome] = r.json()["events"]
        assert outcome["outcome"] == "host_down"
        assert (outcome["servers_changed"], outcome["ports_changed"]) == (98, 100)

        # Every state, read back through the APIs.
        svc = await service(s, "h1")
        assert (svc["forced_down"], svc["state"], svc["status"]) == (True, "down", "enabled")
        after = await servers_on(s, "h1")
        for sid in moving:
            v = after[sid]
            assert v["OS-EXT-STS:vm_state"] == "error", v
            assert v["OS-EXT-STS:task_state"] is None
            assert v["OS-EXT-STS:power_state"] == 1
            assert v["status"] == "ERROR"
            assert v["host_status"] == "DOWN"
            assert v["OS-EXT-SRV-ATTR:host"] == "h1"
        assert after[errored]["updated"] == before[errored]["updated"]
        assert all(p["data_plane_status"] == "DOWN" for p in (await ports_on(s, "h1")).values())
        assert len(await ports_on(s, "h1")) == 100
        # The other host is untouched.
        assert (await service(s, "h2"))["forced_down"] is False
        h2 = await servers_on(s, "h2")
        assert h2[other_server]["status"] == "ACTIVE" and h2[other_server]["host_status"] == "UP"
        assert (await ports_on(s, "h2"))[other_port]["data_plane_status"] is None

        # Every notification: one per changed server, one per changed port, one host event.
        await rec.wait_for(lambda ev: len(ev) >= 98 + 100 + 1)
        await asyncio.sleep(0.2)
        updates = rec.of("compute.instance.update")
        assert sorted(e.traits["instance_id"] for e in updates) == sorted(moving)
        for e in updates:
            assert e.traits["state"] == "error" and e.traits["old_state"] == "active"
            assert e.traits["host"] == "h1" and e.traits["tenant_id"] == project
            assert e.project_id == project and e.resource_id == e.traits["instance_id"]
        port_events = rec.of("port.update.end")
        assert sorted(e.resource_id or "" for e in port_events) == sorted(ports)
        for e in port_events:
            assert e.traits["data_plane_status"] == "DOWN"
            assert e.traits["old_data_plane_status"] is None
            assert e.payload["port"]["data_plane_status"] == "DOWN"
        [host_down] = rec.of("compute.host.down")
        assert host_down.traits["host"] == "h1" and host_down.traits["monitor_event_id"] == "e-1"
        assert {e.event_type for e in rec.events} == {
            "compute.instance.update",
            "port.update.end",
            "compute.host.down",
        }
        assert len(rec.events) == 98 + 100 + 1
        traces = {e.trace.trace_id if e.trace else None for e in rec.events}
        assert traces == {outcome["trace_id"]} and None not in traces

        # A duplicate (same monitor_event_id) and a second report of a host already down
        # change nothing and notify nothing.
        rec.events.clear()
        dup = await s.call(
            "PUT",
            "/v1/inspector/events",
            headers=await s.headers(),
            json=doctor_event("h1", "e-1"),
            expect=200,
        )
        assert dup.json()["events"][0]["outcome"] == "duplicate"
        again = await s.call(
            "PUT",
            "/v1/inspector/events",
            headers=await s.headers(),
            json=doctor_event("h1", "e-2"),
            expect=200,
        )
        assert again.json()["events"][0]["outcome"] == "already_down"
        await asyncio.sleep(0.3)
        assert rec.events == []
        assert await servers_on(s, "h1") == after

        # host up: recorded and notified, never clears forced_down or server states.
        up = await s.call(
            "PUT",
            "/v1/inspector/events",
            headers=await s.headers(),
            json=doctor_event("h1", "e-3", "compute.host.up"),
            expect=200,
        )
        assert up.json()["events"][0]["outcome"] == "recorded"
        await rec.wait_for(lambda ev: len(ev) >= 1)
        assert [e.event_type for e in rec.events] == ["compute.host.up"]
        assert (await service(s, "h1"))["forced_down"] is True
        assert all(v["status"] in ("ERROR",) for v in (await servers_on(s, "h1")).values())

        history = (
            await s.call("GET", "/v1/hosts/h1", headers=await s.headers(), expect=200)
        ).json()["host"]
        assert [f["outcome"] for f in history["faults"]] == [
            "recorded",
            "already_down",
            "host_down",
        ]
        assert history["faults"][-1]["servers_changed"] == 98
        assert (history["servers"], history["ports"], history["forced_down"]) == (99, 100, True)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"not": "a list"}, "[0].not"),
        ([{"type": "compute.host.down", "details": {"status": "down"}}], "[0].details.hostname"),
        ([{"type": "compute.host.melted", "details": {"hostname": "h1"}}], "[0].type"),
        (
            [{"type": "compute.host.down", "details": {"hostname": "h1", "status": "maybe"}}],
            "[0].details.status",
        ),
        ([], "body"),
    ],
)
async def test_invalid_events_get_400_naming_the_field(
    tmp_path: Path, sqlite_url: str, payload: Any, field: str
) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        await s.add_chassis("h1")
        rec = await s.record()
        r = await s.call("PUT", "/v1/inspector/events", headers=await s.headers(), json=payload)
        assert r.status_code == 400, r.text
        assert field in r.json()["error"]["message"]
        assert (await service(s, "h1"))["forced_down"] is False
        await asyncio.sleep(0.1)
        assert rec.events == []


async def test_inspector_needs_admin_or_service(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        await s.add_chassis("h1")
        await s.user("alice", "p2", "member")
        await s.user("monitor", "p2", "service")
        r = await s.call(
            "PUT",
            "/v1/inspector/events",
            json=doctor_event("h1", "x"),
            headers=await s.headers("alice", "p2"),
        )
        assert r.status_code == 403
        r = await s.call(
            "PUT",
            "/v1/inspector/events",
            json=doctor_event("h1", "x"),
            headers=await s.headers("monitor", "p2"),
            expect=200,
        )
        assert r.json()["events"][0]["outcome"] == "host_down"
        r = await s.call(
            "PUT",
            "/v1/inspector/events",
            json=doctor_event("nowhere", "y"),
            headers=await s.headers("monitor", "p2"),
            expect=200,
        )
        assert r.json()["events"][0]["outcome"] == "unknown_host"


async def test_several_hosts_in_one_report_are_each_handled(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        hosts = [f"h{i}" for i in range(5)]
        await s.add_chassis(*hosts)
        for h in hosts:
            await make_servers(s, h, 3)
        events = [e for h in hosts for e in doctor_event(h, f"ev-{h}")]
        r = await s.call(
            "PUT", "/v1/inspector/events", headers=await s.headers(), json=events, expect=200
        )
        assert [o["outcome"] for o in r.json()["events"]] == ["host_down"] * 5
        assert [o["hostname"] for o in r.json()["events"]] == hosts
        for h in hosts:
            assert (await service(s, h))["forced_down"] is True
            assert {v["status"] for v in (await servers_on(s, h)).values()} == {"ERROR"}


async def test_chassis_down_from_liveness_is_a_raw_failure(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url, **{"compute.host_down_server_state": "stopped"}) as s:
        await s.add_chassis("h1")
        ids = await make_servers(s, "h1", 3)
        rec = await s.record("compute.instance.update")
        down = Envelope(
            event_type="chassis.down",
            publisher_id="liveness",
            resource_id="h1",
            traits={
                "host": "h1",
                "chassis": "h1",
                "ip": "192.0.2.10",
                "generation": 1,
                "last_seen": "2026-11-22T00:00:00+00:00",
            },
        )
        await s.runtime.bus.publish(down)
        await s.runtime.bus.publish(down)  # redelivered: handled once
        await rec.wait_for(lambda ev: len(ev) >= 3)
        views = await servers_on(s, "h1")
        for sid in ids:
            assert views[sid]["OS-EXT-STS:vm_state"] == "stopped"
            assert views[sid]["OS-EXT-STS:power_state"] == 4
            assert views[sid]["status"] == "SHUTOFF"
        assert (await service(s, "h1"))["forced_down"] is True
        up = Envelope(
            event_type="chassis.up",
            publisher_id="liveness",
            resource_id="h1",
            traits={"host": "h1", "chassis": "h1", "generation": 2},
        )
        await s.runtime.bus.publish(up)
        for _ in range(200):
            faults = (
                await s.call("GET", "/v1/hosts/h1", headers=await s.headers(), expect=200)
            ).json()["host"]["faults"]
            if len(faults) == 2:
                break
            await asyncio.sleep(0.02)
        assert [(f["type"], f["outcome"], f["monitor"]) for f in faults] == [
            ("compute.host.up", "recorded", "stateward-liveness"),
            ("compute.host.down", "host_down", "stateward-liveness"),
        ]
        assert (await service(s, "h1"))["forced_down"] is True
        await asyncio.sleep(0.1)
        assert len(rec.events) == 3


async def test_port_data_plane_down_can_be_turned_off(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url, **{"inspector.port_data_plane_down": False}) as s:
        await s.add_chassis("h1")
        net = await make_network(s)
        await make_ports(s, net, "h1", 2)
        r = await s.call(
            "PUT",
            "/v1/inspector/events",
            headers=await s.headers(),
            json=doctor_event("h1", "a"),
            expect=200,
        )
        assert r.json()["events"][0]["ports_changed"] == 0
        assert {p["data_plane_status"] for p in (await ports_on(s, "h1")).values()} == {None}


async def test_a_reused_event_id_acts_again_after_the_host_was_restored(
    tmp_path: Path, db_url: str
) -> None:
    """Doctor's sample monitor sends the same monitor_event_id on every run: after an operator
    restored the host, the next fault with that id is a new fault, not a duplicate."""
    async with stack(tmp_path, db_url) as s:
        await s.add_chassis("h1")
        [sid] = await make_servers(s, "h1", 1)
        admin = await s.headers(mv="2.53")
        event = doctor_event("h1", "monitor_sample_event1")
        first = await s.call("PUT", "/v1/inspector/events", headers=admin, json=event, expect=200)
        assert first.json()["events"][0]["outcome"] == "host_down"
        again = await s.call("PUT", "/v1/inspector/events", headers=admin, json=event, expect=200)
        assert again.json()["events"][0]["outcome"] == "duplicate"
        # The operator repairs the host and the server.
        svc = await service(s, "h1")
        await s.call(
            "PUT",
            f"/compute/v2.1/os-services/{svc['id']}",
            headers=admin,
            json={"forced_down": False},
            expect=200,
        )
        await s.call(
            "POST",
            f"/compute/v2.1/servers/{sid}/action",
            headers=admin,
            json={"os-resetState": {"state": "active"}},
            expect=202,
        )
        # The next run of the monitor reports with the same id: acted on again.
        rerun = await s.call("PUT", "/v1/inspector/events", headers=admin, json=event, expect=200)
        assert rerun.json()["events"][0]["outcome"] == "host_down"
        assert (await servers_on(s, "h1"))[sid]["status"] == "ERROR"
        assert (await service(s, "h1"))["forced_down"] is True
