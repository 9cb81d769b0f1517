"""Server create without a host: the scheduler's filters and weighers, ports created and bound
on the chosen host, ERROR with Nova's fault when nothing fits, and what a delete cleans up
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from stateward.domain.chassis import Chassis
from stateward.domain.events import utcnow
from stateward.store.repositories.chassis import ChassisRepository
from tests.support.inproc import Stack, stack

S = "/compute/v2.1/servers"
MV = "2.75"


async def hosts(s: Stack, *specs: tuple[str, dict[str, str]], dead: tuple[str, ...] = ()) -> None:
    """Chassis with external_ids (capacity, zone); ``dead`` ones last reported long ago."""
    now = utcnow()
    async with s.runtime.store.uow() as uow:
        repo = ChassisRepository(uow)
        for i, (name, ids) in enumerate(specs):
            beat = now - timedelta(hours=2) if name in dead else now
            await repo.add(
                Chassis(
                    name=name,
                    ip=f"192.0.2.{20 + i}",
                    external_ids=dict(ids),
                    heartbeat_at=beat,
                    created_at=now,
                )
            )
        await uow.commit()


def capacity(vcpus: int, memory_mb: int, disk_gb: int, **extra: str) -> dict[str, str]:
    return {"vcpus": str(vcpus), "memory_mb": str(memory_mb), "disk_gb": str(disk_gb), **extra}


async def boot(s: Stack, h: dict[str, str], name: str, **server: Any) -> dict[str, Any]:
    body = {"name": name, "flavorRef": "1", **server}
    r = await s.call("POST", S, headers=h, json={"server": body}, expect=202)
    shown = await s.call("GET", f"{S}/{r.json()['server']['id']}", headers=h, expect=200)
    return dict(shown.json()["server"])


async def network(s: Stack, h: dict[str, str], name: str = "net1") -> str:
    net = (
        await s.call(
            "POST",
            "/networking/v2.0/networks",
            headers=h,
            json={"network": {"name": name}},
            expect=201,
        )
    ).json()["network"]
    await s.call(
        "POST",
        "/networking/v2.0/subnets",
        headers=h,
        expect=201,
        json={"subnet": {"network_id": net["id"], "cidr": "10.44.0.0/24", "ip_version": 4}},
    )
    return str(net["id"])


async def test_filters_and_spreading(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url, **{"scheduler.reserved_host_memory_mb": 0}) as s:
        await hosts(
            s,
            ("a", capacity(1, 1024, 10)),
            ("b", capacity(1, 1024, 10)),
            ("disabled", {}),
            ("forced", {}),
            ("dead", {}),
            ("z2", {"availability_zone": "az2"}),
            dead=("dead",),
        )
        h = await s.headers(mv=MV)
        await s.call(
            "PUT",
            "/compute/v2.1/os-services/disable",
            headers=await s.headers(),
            json={"host": "disabled", "binary": "nova-compute"},
            expect=200,
        )
        await s.call(
            "PUT",
            "/compute/v2.1/os-services/force-down",
            headers=await s.headers(mv="2.11"),
            json={"host": "forced", "binary": "nova-compute", "forced_down": True},
            expect=200,
        )
        placed = [(await boot(s, h, f"vm{i}"))["OS-EXT-SRV-ATTR:host"] for i in range(4)]
        # any zone when none is asked for; only up and enabled hosts; fewest servers first,
        # then most free RAM (a host not reporting capacity counts as none free), then name
        assert placed == ["a", "b", "z2", "a"]
        zoned = await boot(s, h, "z", availability_zone="az2")
        assert (zoned["OS-EXT-SRV-ATTR:host"], zoned["OS-EXT-AZ:availability_zone"]) == (
            "z2",
            "az2",
        )
        r = await s.call(
            "POST",
            S,
            headers=h,
            json={"server": {"name": "x", "flavorRef": "1", "availability_zone": "nowhere"}},
        )
        assert r.status_code == 400 and "availability zone is not available" in r.text
        # RAM 1024 holds two m1.tiny: a is full, b takes one more, then nothing fits in nova
        assert (await boot(s, h, "n1", availability_zone="nova"))["OS-EXT-SRV-ATTR:host"] == "b"
        failed = await boot(s, h, "nope", availability_zone="nova")
        assert failed["status"] == "ERROR" and failed["OS-EXT-SRV-ATTR:host"] is None
        assert failed["fault"]["message"] == (
            "No valid host was found. There are not enough hosts available."
        )
        assert failed["fault"]["code"] == 500 and failed["hostId"] == ""
        # admins see why: what each filter left (6 hosts, 5 in zone nova, 2 up and enabled)
        assert failed["fault"]["details"] == (
            "6 hosts; AvailabilityZoneFilter left 5; ComputeFilter left 2; resources left 0"
        )
        listed = (await s.call("GET", f"{S}/detail", headers=h)).json()["servers"]
        assert {v["name"]: v["status"] for v in listed}["nope"] == "ERROR"
        # nothing fits: the error server still counts for the project (as Nova's does)
        p = await s.project_id("admin")
        used = (await s.call("GET", f"/compute/v2.1/os-quota-sets/{p}/detail", headers=h)).json()[
            "quota_set"
        ]["instances"]["in_use"]
        assert used == 7


async def test_ports_created_bound_and_cleaned_up(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await hosts(s, ("h1", {}))
        h = await s.headers(mv=MV)
        net = await network(s, h)
        server = await boot(s, h, "vm1", networks=[{"uuid": net}], imageRef="")
        assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] == "h1"
        [address] = server["addresses"]["net1"]
        assert (address["version"], address["OS-EXT-IPS:type"]) == (4, "fixed")
        ports = (
            await s.call("GET", f"/networking/v2.0/ports?device_id={server['id']}", headers=h)
        ).json()["ports"]
        [port] = ports
        assert (port["binding:host_id"], port["binding:vif_type"], port["device_owner"]) == (
            "h1",
            "ovs",
            "compute:nova",
        )
        assert port["fixed_ips"][0]["ip_address"] == address["addr"]
        # a port the user made is bound, and kept (unbound) when the server goes
        own = (
            await s.call(
                "POST",
                "/networking/v2.0/ports",
                headers=h,
                expect=201,
                json={"port": {"network_id": net, "name": "mine"}},
            )
        ).json()["port"]
        second = await boot(s, h, "vm2", networks=[{"port": own["id"]}])
        shown = (await s.call("GET", f"/networking/v2.0/ports/{own['id']}", headers=h)).json()
        assert shown["port"]["device_id"] == second["id"]
        r = await s.call(
            "POST",
            S,
            headers=h,
            json={"server": {"name": "vm3", "flavorRef": "1", "networks": [{"port": own["id"]}]}},
        )
        assert r.status_code == 409 and "still in use" in r.text
        await s.call("DELETE", f"{S}/{server['id']}", headers=h, expect=204)
        await s.call("DELETE", f"{S}/{second['id']}", headers=h, expect=204)
        left = (await s.call("GET", "/networking/v2.0/ports", headers=h)).json()["ports"]
        assert [(p["name"], p["device_id"], p["binding:host_id"]) for p in left] == [
            ("mine", "", "")
        ]
        # the network can go once the servers are gone
        await s.call("DELETE", f"/networking/v2.0/ports/{own['id']}", headers=h, expect=204)
        await s.call("DELETE", f"/networking/v2.0/networks/{net}", headers=h, expect=204)


async def test_network_requests_and_images_are_checked(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        await hosts(s, ("h1", {}))
        await s.user("alice", "p2", "member")
        admin = await s.headers(mv=MV)
        alice = await s.headers("alice", "p2", mv=MV)
        others = await network(s, admin, "admins")
        r = await s.call(
            "POST",
            S,
            headers=alice,
            json={"server": {"name": "v", "flavorRef": "1", "networks": [{"uuid": others}]}},
        )
        assert r.status_code == 400 and f"Network {others} could not be found." in r.text
        # "auto": the project's only network; "none": none
        mine = await network(s, alice, "mine")
        auto = await boot(s, alice, "auto", networks="auto")
        assert list(auto["addresses"]) == ["mine"]
        assert (await boot(s, alice, "none", networks="none"))["addresses"] == {}
        await network(s, alice, "second")
        r = await s.call(
            "POST",
            S,
            headers=alice,
            json={"server": {"name": "v", "flavorRef": "1", "networks": "auto"}},
        )
        assert r.status_code == 409 and "Multiple possible networks" in r.text
        r = await s.call(
            "POST",
            S,
            headers=await s.headers("alice", "p2", mv="2.36"),
            json={"server": {"name": "v", "flavorRef": "1", "networks": "auto"}},
        )
        assert r.status_code == 400
        # images: unknown, not active, too big for the flavor
        r = await s.call(
            "POST",
            S,
            headers=alice,
            json={"server": {"name": "v", "flavorRef": "1", "imageRef": "cirros"}},
        )
        assert r.status_code == 400 and "Image cirros could not be found." in r.text
        queued = (
            await s.call(
                "POST",
                "/image/v2/images",
                headers=alice,
                expect=201,
                json={"name": "q", "disk_format": "raw", "container_format": "bare"},
            )
        ).json()
        r = await s.call(
            "POST",
            S,
            headers=alice,
            json={"server": {"name": "v", "flavorRef": "1", "imageRef": queued["id"]}},
        )
        assert r.status_code == 400 and "is not active" in r.text
        await s.call(
            "PUT",
            f"/image/v2/images/{queued['id']}/file",
            expect=204,
            headers={**alice, "Content-Type": "application/octet-stream"},
            content=b"\0" * 1024,
        )
        await s.call(
            "PATCH",
            f"/image/v2/images/{queued['id']}",
            expect=200,
            headers={**alice, "Content-Type": "application/openstack-images-v2.1-json-patch"},
            json=[{"op": "replace", "path": "/min_ram", "value": 1024}],
        )
        r = await s.call(
            "POST",
            S,
            headers=alice,
            json={"server": {"name": "v", "flavorRef": "1", "imageRef": queued["id"]}},
        )
        assert r.status_code == 400 and "memory is too small" in r.text
        ok = await boot(
            s, alice, "img", imageRef=queued["id"], flavorRef="2", networks=[{"uuid": mine}]
        )
        assert ok["status"] == "ACTIVE" and ok["image"]["id"] == queued["id"]


async def test_named_host_keeps_working_and_binding_failures(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        await hosts(s, ("alive", {}), ("gone", {}), dead=("gone",))
        h = await s.headers(mv="2.74")
        net = await network(s, h)
        # an admin names the host: no filters (Stateward registers what already runs there)
        named = await boot(s, h, "named", host="gone")
        assert (named["status"], named["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "gone")
        # ...but its ports cannot bind to a dead chassis: ERROR, with the reason
        failed = await boot(s, h, "unbound", host="gone", networks=[{"uuid": net}])
        assert failed["status"] == "ERROR"
        assert failed["fault"]["message"].startswith("Binding failed for port")
        zone_form = await boot(s, await s.headers(), "az", availability_zone="nova:alive")
        assert zone_form["OS-EXT-SRV-ATTR:host"] == "alive"
