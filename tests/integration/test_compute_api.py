"""Nova-compatible compute API: mark host down (os-services), servers per microversion, and the
calls Doctor's own sample inspector makes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from stateward.domain.compute import service_uuid
from tests.integration.test_host_faults import (
    make_network,
    make_ports,
    make_servers,
    servers_on,
    service,
)
from tests.support.inproc import stack


@pytest.mark.parametrize(
    ("mode", "vm_state", "power_state", "changed"),
    [("error", "error", 1, 2), ("stopped", "stopped", 4, 2), ("unchanged", "active", 1, 0)],
)
async def test_force_down_moves_servers_per_configured_state(
    tmp_path: Path, db_url: str, mode: str, vm_state: str, power_state: int, changed: int
) -> None:
    async with stack(tmp_path, db_url, **{"compute.host_down_server_state": mode}) as s:
        await s.add_chassis("h1")
        ids = await make_servers(s, "h1", 3)
        h = await s.headers(mv="2.53")
        await s.call(
            "POST",
            f"/compute/v2.1/servers/{ids[2]}/action",
            headers=h,
            json={"os-resetState": {"state": "error"}},
            expect=202,
        )
        rec = await s.record("compute.instance.update")
        r = await s.call(
            "PUT",
            f"/compute/v2.1/os-services/{service_uuid('h1')}",
            headers=h,
            json={"forced_down": True},
            expect=200,
        )
        svc = r.json()["service"]
        assert (svc["forced_down"], svc["state"], svc["id"]) == (True, "down", service_uuid("h1"))
        views = await servers_on(s, "h1")
        for sid in ids[:2]:
            assert views[sid]["OS-EXT-STS:vm_state"] == vm_state
            assert views[sid]["OS-EXT-STS:power_state"] == power_state
            assert views[sid]["OS-EXT-STS:task_state"] is None
        assert views[ids[2]]["OS-EXT-STS:vm_state"] == "error"  # left alone
        if changed:
            await rec.wait_for(lambda ev: len(ev) >= changed)
        assert sorted(e.traits["instance_id"] for e in rec.events) == sorted(ids[:changed])
        assert all(e.traits["old_state"] == "active" for e in rec.events)

        # Clearing forced_down restores the service only.
        r = await s.call(
            "PUT",
            f"/compute/v2.1/os-services/{service_uuid('h1')}",
            headers=h,
            json={"forced_down": False},
            expect=200,
        )
        assert (r.json()["service"]["forced_down"], r.json()["service"]["state"]) == (False, "up")
        assert {
            v["OS-EXT-STS:vm_state"] for k, v in (await servers_on(s, "h1")).items() if k != ids[2]
        } == {vm_state}


async def test_os_services_validation_and_microversions(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        await s.add_chassis("h1", "h2")
        await s.user("alice", "p2", "member")
        sid = service_uuid("h1")
        url = f"/compute/v2.1/os-services/{sid}"
        h53 = await s.headers(mv="2.53")

        async def put(u: str, body: object, mv: str, status: int) -> dict:
            r = await s.call("PUT", u, json=body, headers=await s.headers(mv=mv))
            assert r.status_code == status, r.text
            assert r.headers["OpenStack-API-Version"] == f"compute {mv}"
            return dict(r.json())

        err = await put(url, {}, "2.53", 400)
        assert "status" in err["badRequest"]["message"] and err["badRequest"]["code"] == 400
        await put(url, {"forced_down": "yes"}, "2.53", 400)
        await put(url, {"status": "sideways"}, "2.53", 400)
        await put(url, {"status": "enabled", "disabled_reason": "x"}, "2.53", 400)
        await put(url, {"host": "h1"}, "2.53", 400)
        await put("/compute/v2.1/os-services/not-a-uuid", {"forced_down": True}, "2.53", 400)
        await put(f"/compute/v2.1/os-services/{uuid.uuid4()}", {"forced_down": True}, "2.53", 404)
        # The 2.11 force-down URL is gone from 2.53, and did not exist before 2.11.
        legacy = {"host": "h1", "binary": "nova-compute", "forced_down": True}
        await put("/compute/v2.1/os-services/force-down", legacy, "2.53", 404)
        await put("/compute/v2.1/os-services/force-down", legacy, "2.10", 404)
        await put(
            "/compute/v2.1/os-services/force-down",
            {**legacy, "binary": "nova-scheduler"},
            "2.11",
            404,
        )
        await put("/compute/v2.1/os-services/force-down", {"host": "h1"}, "2.11", 400)
        ok = await put("/compute/v2.1/os-services/force-down", legacy, "2.52", 200)
        assert ok == {"service": {"host": "h1", "binary": "nova-compute", "forced_down": True}}
        # Admin only by default.
        r = await s.call(
            "PUT",
            url,
            json={"forced_down": False},
            headers={**await s.headers("alice", "p2"), "OpenStack-API-Version": "compute 2.53"},
        )
        assert r.status_code == 403 and "forbidden" in r.json()
        r = await s.call("GET", "/compute/v2.1/os-services", headers=await s.headers("alice", "p2"))
        assert r.status_code == 403
        # Disable with a reason: MAINTENANCE for its servers.
        done = await put(
            url,
            {"status": "disabled", "disabled_reason": "repair", "forced_down": False},
            "2.53",
            200,
        )
        assert (done["service"]["status"], done["service"]["disabled_reason"]) == (
            "disabled",
            "repair",
        )
        await make_servers(s, "h1", 1)
        assert {v["host_status"] for v in (await servers_on(s, "h1")).values()} == {"MAINTENANCE"}
        # Listing per microversion: integer ids and no forced_down at 2.1; filters.
        r = await s.call(
            "GET", "/compute/v2.1/os-services?host=h2", headers=await s.headers(), expect=200
        )
        [svc] = r.json()["services"]
        assert isinstance(svc["id"], int) and "forced_down" not in svc
        assert r.headers["OpenStack-API-Version"] == "compute 2.1"
        r = await s.call(
            "GET", "/compute/v2.1/os-services?binary=nova-scheduler", headers=h53, expect=200
        )
        assert r.json()["services"] == []
        r = await s.call(
            "GET",
            "/compute/v2.1/os-services",
            headers={**h53, "OpenStack-API-Version": "compute 2.76"},
        )
        assert r.status_code == 406


async def test_server_api_shapes_and_errors(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        await s.add_chassis("h1")
        await s.user("alice", "p2", "member")
        admin = await s.headers(mv="2.74")
        body = {"name": "vm", "flavorRef": "1"}
        # Unknown flavor, unknown host, host before 2.74: 400 like Nova.
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            json={"server": {**body, "flavorRef": "f"}},
            headers=admin,
        )
        assert r.status_code == 400
        assert r.json()["badRequest"]["message"] == "Flavor f could not be found."
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            headers=admin,
            json={"server": {**body, "host": "nowhere"}},
        )
        assert r.status_code == 400
        assert r.json()["badRequest"]["message"] == "Compute host nowhere could not be found."
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            headers=await s.headers(mv="2.73"),
            json={"server": {**body, "host": "h1"}},
        )
        assert r.status_code == 400 and "'host' was unexpected" in r.text
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            headers=await s.headers(mv="2.73"),
            json={
                "server": {
                    **body,
                    "availability_zone": "nova:h1",
                    "metadata": {"ha-policy": "restart"},
                }
            },
            expect=202,
        )
        sid = r.json()["server"]["id"]
        # A member cannot choose a host.
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            headers=await s.headers("alice", "p2"),
            json={"server": {**body, "availability_zone": "nova:h1"}},
        )
        assert r.status_code == 403
        # Shapes per microversion.
        old = (
            await s.call(
                "GET", f"/compute/v2.1/servers/{sid}", headers=await s.headers(), expect=200
            )
        ).json()["server"]
        assert old["flavor"] == {"id": "1", "links": old["flavor"]["links"]}
        assert "host_status" not in old and "locked" not in old and "description" not in old
        new = (
            await s.call(
                "GET",
                f"/compute/v2.1/servers/{sid}",
                headers=await s.headers(mv="2.75"),
                expect=200,
            )
        ).json()["server"]
        assert new["flavor"]["original_name"] == "m1.tiny" and "id" not in new["flavor"]
        assert (new["flavor"]["vcpus"], new["flavor"]["ram"], new["flavor"]["disk"]) == (1, 512, 1)
        assert new["host_status"] == "UP" and new["locked"] is False
        assert new["locked_reason"] is None and new["metadata"] == {"ha-policy": "restart"}
        assert new["OS-EXT-STS:power_state"] == 1 and new["OS-EXT-SRV-ATTR:host"] == "h1"
        # 2.75 refuses unknown list parameters; older versions ignore them.
        r = await s.call("GET", "/compute/v2.1/servers?bogus=1", headers=await s.headers(mv="2.75"))
        assert r.status_code == 400
        await s.call(
            "GET", "/compute/v2.1/servers?bogus=1", headers=await s.headers(mv="2.74"), expect=200
        )
        # Another project's server does not exist for a member; all_tenants is admin only.
        alice = await s.headers("alice", "p2", mv="2.75")
        assert (
            await s.call("GET", f"/compute/v2.1/servers/{sid}", headers=alice)
        ).status_code == 404
        r = await s.call("GET", "/compute/v2.1/servers/detail?all_tenants=True", headers=alice)
        assert r.status_code == 403
        assert (
            await s.call("GET", "/compute/v2.1/servers/detail", headers=alice, expect=200)
        ).json()["servers"] == []
        # resetState validation.
        for bad in (
            {"os-resetState": {"state": "stopped"}},
            {"os-resetState": {}},
            {"os-stop": None},
        ):
            r = await s.call("POST", f"/compute/v2.1/servers/{sid}/action", json=bad, headers=admin)
            assert r.status_code == 400, bad
        # Metadata (where the seed keeps an HA policy for external tools).
        m = f"/compute/v2.1/servers/{sid}/metadata"
        r = await s.call("POST", m, json={"metadata": {"a": "1"}}, headers=admin, expect=200)
        assert r.json()["metadata"] == {"ha-policy": "restart", "a": "1"}
        await s.call(
            "PUT",
            f"{m}/ha-policy",
            json={"meta": {"ha-policy": "evacuate"}},
            headers=admin,
            expect=200,
        )
        r = await s.call("GET", f"{m}/ha-policy", headers=admin, expect=200)
        assert r.json() == {"meta": {"ha-policy": "evacuate"}}
        await s.call("PUT", f"{m}/x", json={"meta": {"y": "1"}}, headers=admin, expect=400)
        await s.call("DELETE", f"{m}/a", headers=admin, expect=204)
        await s.call("DELETE", f"{m}/a", headers=admin, expect=404)
        r = await s.call("PUT", m, json={"metadata": {"only": "this"}}, headers=admin, expect=200)
        assert (await s.call("GET", m, headers=admin)).json() == {"metadata": {"only": "this"}}
        await s.call("POST", m, json={"metadata": {"k": 5}}, headers=admin, expect=400)
        # Delete: gone from the API.
        await s.call("DELETE", f"/compute/v2.1/servers/{sid}", headers=admin, expect=204)
        await s.call("GET", f"/compute/v2.1/servers/{sid}", headers=admin, expect=404)


async def test_doctor_sample_inspector_calls(tmp_path: Path, db_url: str) -> None:
    """What Doctor's own inspector does: list all servers, force down at 2.34, reset each VM
    to error, list the host's ports."""
    async with stack(tmp_path, db_url, **{"compute.host_down_server_state": "unchanged"}) as s:
        await s.add_chassis("compute-1")
        ids = await make_servers(s, "compute-1", 2)
        net = await make_network(s)
        ports = await make_ports(s, net, "compute-1", 2)
        h = await s.headers()
        r = await s.call(
            "GET", "/compute/v2.1/servers/detail?all_tenants=True", headers=h, expect=200
        )
        by_host = {v["id"]: v["OS-EXT-SRV-ATTR:host"] for v in r.json()["servers"]}
        assert by_host == {i: "compute-1" for i in ids}
        await s.call(
            "PUT",
            "/compute/v2.1/os-services/force-down",
            headers=await s.headers(mv="2.34"),
            expect=200,
            json={"host": "compute-1", "binary": "nova-compute", "forced_down": True},
        )
        for sid in ids:
            await s.call(
                "POST",
                f"/compute/v2.1/servers/{sid}/action",
                headers=h,
                json={"os-resetState": {"state": "error"}},
                expect=202,
            )
        assert {v["status"] for v in (await servers_on(s, "compute-1")).values()} == {"ERROR"}
        assert (await service(s, "compute-1"))["forced_down"] is True
        r = await s.call(
            "GET", "/networking/v2.0/ports?binding:host_id=compute-1", headers=h, expect=200
        )
        assert sorted(p["id"] for p in r.json()["ports"]) == sorted(ports)


async def test_a_silent_chassis_makes_its_service_down_and_servers_unknown(
    tmp_path: Path, sqlite_url: str
) -> None:
    from datetime import timedelta

    from stateward.domain.chassis import Chassis
    from stateward.domain.events import utcnow
    from stateward.store.repositories.chassis import ChassisRepository

    async with stack(tmp_path, sqlite_url) as s:  # chassis_down_time is 3600 s here
        await s.add_chassis("alive")
        async with s.runtime.store.uow() as uow:
            last = utcnow() - timedelta(hours=2)
            await ChassisRepository(uow).add(
                Chassis(name="silent", ip="192.0.2.99", heartbeat_at=last, created_at=last)
            )
            await uow.commit()
        [sid] = await make_servers(s, "silent", 1)
        assert (await service(s, "silent"))["state"] == "down"
        assert (await service(s, "silent"))["forced_down"] is False
        assert (await service(s, "alive"))["state"] == "up"
        view = (await servers_on(s, "silent"))[sid]
        assert (view["host_status"], view["status"]) == ("UNKNOWN", "ACTIVE")
