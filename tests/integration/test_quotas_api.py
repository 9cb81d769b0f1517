"""One quota engine behind Nova's os-quota-sets / os-quota-class-sets / limits, Neutron's
/v2.0/quotas and Aodh's /v2/quotas: limits are set and shown by each API, and each refuses a
creation beyond a limit in its own words, leaving nothing half-made (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.inproc import Stack, stack

Q = "/compute/v2.1/os-quota-sets"
NQ = "/networking/v2.0/quotas"


def _alarm(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "event",
        "event_rule": {"event_type": "compute.instance.update", "query": []},
    }


async def _server(s: Stack, headers: dict[str, str], name: str, flavor: str = "1") -> Any:
    return await s.call(
        "POST",
        "/compute/v2.1/servers",
        headers=headers,
        json={"server": {"name": name, "flavorRef": flavor}},
    )


async def test_nova_quota_sets_classes_and_limits(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.add_chassis("h1")
        await s.user("alice", "p2", "member")
        p2 = await s.project_id("p2")
        admin = await s.headers(mv="2.75")
        alice = await s.headers("alice", "p2", mv="2.75")
        old = await s.headers(mv="2.1")
        shown = (await s.call("GET", f"{Q}/{p2}", headers=alice, expect=200)).json()["quota_set"]
        assert shown == {
            "id": p2,
            "instances": 10,
            "cores": 20,
            "ram": 51200,
            "metadata_items": 128,
            "key_pairs": 100,
            "server_groups": 10,
            "server_group_members": 10,
        }
        legacy = (await s.call("GET", f"{Q}/{p2}", headers=old, expect=200)).json()["quota_set"]
        assert legacy["fixed_ips"] == -1 and legacy["injected_files"] == 5
        # a member reads its own project's only, and sets nothing
        admin_project = await s.project_id("admin")
        await s.call("GET", f"{Q}/{admin_project}", headers=alice, expect=403)
        await s.call(
            "PUT", f"{Q}/{p2}", headers=alice, json={"quota_set": {"instances": 1}}, expect=403
        )
        # Doctor's User.update_quota: the default class, then the project's (per user) quota
        cls = "/compute/v2.1/os-quota-class-sets/default"
        default = (await s.call("GET", cls, headers=admin, expect=200)).json()["quota_class_set"]
        assert (default["id"], default["instances"], default["cores"]) == ("default", 10, 20)
        r = await s.call(
            "PUT", cls, headers=admin, json={"quota_class_set": {"instances": 15}}, expect=200
        )
        assert r.json()["quota_class_set"]["instances"] == 15
        assert (await s.call("GET", f"{Q}/{p2}", headers=alice)).json()["quota_set"][
            "instances"
        ] == 15
        defaults = (await s.call("GET", f"{Q}/{p2}/defaults", headers=alice)).json()
        assert defaults["quota_set"]["instances"] == 15
        r = await s.call(
            "PUT",
            f"{Q}/{p2}",
            headers=admin,
            json={"quota_set": {"instances": 2, "cores": "4"}},
            expect=200,
        )
        assert (r.json()["quota_set"]["instances"], r.json()["quota_set"]["cores"]) == (2, 4)
        assert "id" not in r.json()["quota_set"]
        for bad in ({"instances": -2}, {"instances": "x"}, {"floating_ips": 1}, {"nope": 1}):
            await s.call("PUT", f"{Q}/{p2}", headers=admin, json={"quota_set": bad}, expect=400)
        # per user: at most the project's
        alice_id = (
            await s.call(
                "GET",
                "/identity/v3/auth/tokens",
                headers={**admin, "X-Subject-Token": alice["X-Auth-Token"]},
            )
        ).json()["token"]["user"]["id"]
        await s.call(
            "PUT",
            f"{Q}/{p2}?user_id={alice_id}",
            headers=admin,
            json={"quota_set": {"instances": 3}},
            expect=400,
        )
        await s.call(
            "PUT",
            f"{Q}/{p2}?user_id={alice_id}",
            headers=admin,
            json={"quota_set": {"instances": 1}},
            expect=200,
        )
        mine = (await s.call("GET", f"{Q}/{p2}?user_id={alice_id}", headers=admin)).json()
        assert mine["quota_set"]["instances"] == 1
        # enforced on create, with Nova's message; the user's limit counts too
        assert (await _server(s, alice, "v1")).status_code == 202
        r = await _server(s, alice, "v2")
        assert r.status_code == 403
        assert r.json()["forbidden"]["message"] == (
            "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"
        )
        await s.call("DELETE", f"{Q}/{p2}?user_id={alice_id}", headers=admin, expect=202)
        assert (await _server(s, alice, "v2")).status_code == 202
        r = await _server(s, alice, "v3")
        assert r.json()["forbidden"]["message"] == (
            "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
        )
        r = await _server(s, alice, "big", flavor="3")  # m1.medium: 2 more cores than allowed
        assert "Quota exceeded for" in r.json()["forbidden"]["message"]
        listed = (await s.call("GET", "/compute/v2.1/servers", headers=alice)).json()["servers"]
        assert sorted(v["name"] for v in listed) == ["v1", "v2"]  # nothing half-made
        detail = (await s.call("GET", f"{Q}/{p2}/detail", headers=alice)).json()["quota_set"]
        assert detail["instances"] == {"limit": 2, "in_use": 2, "reserved": 0}
        assert detail["ram"]["in_use"] == 1024 and detail["cores"]["in_use"] == 2
        # lowering below usage needs force
        await s.call(
            "PUT", f"{Q}/{p2}", headers=admin, json={"quota_set": {"instances": 1}}, expect=400
        )
        await s.call(
            "PUT",
            f"{Q}/{p2}",
            headers=admin,
            json={"quota_set": {"instances": 1, "force": True}},
            expect=200,
        )
        limits = (await s.call("GET", "/compute/v2.1/limits", headers=alice)).json()
        absolute = limits["limits"]["absolute"]
        assert (absolute["maxTotalInstances"], absolute["totalInstancesUsed"]) == (1, 2)
        assert absolute["totalRAMUsed"] == 1024
        await s.call("DELETE", f"{Q}/{p2}", headers=admin, expect=202)
        back = (await s.call("GET", f"{Q}/{p2}", headers=alice)).json()["quota_set"]
        assert back["instances"] == 15  # the default class again
        # metadata_items is a per-request limit
        await s.call(
            "PUT", f"{Q}/{p2}", headers=admin, json={"quota_set": {"metadata_items": 1}}, expect=200
        )
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            headers=alice,
            json={"server": {"name": "m", "flavorRef": "1", "metadata": {"a": "1", "b": "2"}}},
        )
        assert r.status_code == 403 and "metadata items exceeds 1" in r.text


async def test_neutron_quotas_refuse_with_overquota(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.user("alice", "p2", "member")
        p2 = await s.project_id("p2")
        admin = await s.headers()
        alice = await s.headers("alice", "p2")
        shown = (await s.call("GET", f"{NQ}/{p2}", headers=alice, expect=200)).json()
        assert shown == {"quota": {"network": 100, "subnet": 100, "port": 500}}
        assert (await s.call("GET", f"{NQ}/{p2}/default", headers=alice)).json() == shown
        await s.call("PUT", f"{NQ}/{p2}", headers=alice, json={"quota": {"network": 1}}, expect=403)
        r = await s.call(
            "PUT",
            f"{NQ}/{p2}",
            headers=admin,
            json={"quota": {"network": 1, "port": 2}},
            expect=200,
        )
        assert r.json()["quota"] == {"network": 1, "subnet": 100, "port": 2}
        await s.call("PUT", f"{NQ}/{p2}", headers=admin, json={"quota": {"router": 1}}, expect=400)
        net = (
            await s.call(
                "POST",
                "/networking/v2.0/networks",
                headers=alice,
                json={"network": {"name": "n1"}},
                expect=201,
            )
        ).json()["network"]
        r = await s.call(
            "POST", "/networking/v2.0/networks", headers=alice, json={"network": {"name": "n2"}}
        )
        assert r.status_code == 409
        assert r.json()["NeutronError"] == {
            "type": "OverQuota",
            "message": "Quota exceeded for resources: ['network'].",
            "detail": "",
        }
        await s.call(
            "POST",
            "/networking/v2.0/subnets",
            headers=alice,
            expect=201,
            json={"subnet": {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4}},
        )
        for i in range(2):
            await s.call(
                "POST",
                "/networking/v2.0/ports",
                headers=alice,
                expect=201,
                json={"port": {"network_id": net["id"], "name": f"p{i}"}},
            )
        r = await s.call(
            "POST",
            "/networking/v2.0/ports",
            headers=alice,
            json={"port": {"network_id": net["id"], "name": "p3"}},
        )
        assert r.status_code == 409 and "['port']" in r.text
        ports = (await s.call("GET", "/networking/v2.0/ports", headers=alice)).json()["ports"]
        assert sorted(p["name"] for p in ports) == ["p0", "p1"]
        details = (await s.call("GET", f"{NQ}/{p2}/details", headers=alice)).json()["quota"]
        assert details["port"] == {"limit": 2, "used": 2, "reserved": 0}
        assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
        # check_limit refuses going below usage, as the CLI asks unless --force
        await s.call(
            "PUT",
            f"{NQ}/{p2}",
            headers=admin,
            json={"quota": {"port": 1, "check_limit": True}},
            expect=400,
        )
        listed = (await s.call("GET", NQ, headers=admin)).json()["quotas"]
        assert [q["project_id"] for q in listed] == [p2]
        await s.call("DELETE", f"{NQ}/{p2}", headers=admin, expect=204)
        assert (await s.call("GET", NQ, headers=admin)).json()["quotas"] == []
        assert (await s.call("GET", f"{NQ}/{p2}", headers=alice)).json()["quota"]["port"] == 500


async def test_alarm_quota_from_config_and_aodh_api(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url, **{"quotas.project_alarm_quota": 2}) as s:
        await s.user("alice", "p2", "member")
        p2 = await s.project_id("p2")
        admin = await s.headers()
        alice = await s.headers("alice", "p2")
        r = await s.call("GET", "/v2/quotas", headers=alice, expect=200)
        assert r.json() == {"project_id": p2, "quotas": [{"resource": "alarms", "limit": 2}]}
        for i in range(2):
            await s.call("POST", "/v2/alarms", headers=alice, json=_alarm(f"a{i}"), expect=201)
        r = await s.call("POST", "/v2/alarms", headers=alice, json=_alarm("a2"))
        assert r.status_code == 403
        assert r.json()["error_message"]["faultstring"].startswith("Alarm quota exceeded for user")
        assert len((await s.call("GET", "/v2/alarms", headers=alice)).json()) == 2
        body = {"project_id": p2, "quotas": [{"resource": "alarms", "limit": 3}]}
        await s.call("POST", "/v2/quotas", headers=alice, json=body, expect=403)
        r = await s.call("POST", "/v2/quotas", headers=admin, json=body, expect=201)
        assert r.json()["quotas"] == [{"resource": "alarms", "limit": 3}]
        await s.call("POST", "/v2/alarms", headers=alice, json=_alarm("a2"), expect=201)


async def test_user_alarm_quota(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url, **{"quotas.user_alarm_quota": 1}) as s:
        await s.user("alice", "p2", "member")
        await s.user("carol", "p2", "member")
        alice = await s.headers("alice", "p2")
        await s.call("POST", "/v2/alarms", headers=alice, json=_alarm("a0"), expect=201)
        await s.call("POST", "/v2/alarms", headers=alice, json=_alarm("a1"), expect=403)
        carol = await s.headers("carol", "p2")
        await s.call("POST", "/v2/alarms", headers=carol, json=_alarm("c0"), expect=201)


async def test_quotas_off_enforce_nothing(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(
        tmp_path, sqlite_url, **{"quotas.enforce": False, "quotas.defaults": {"network": 0}}
    ) as s:
        h = await s.headers()
        await s.call(
            "POST",
            "/networking/v2.0/networks",
            headers=h,
            json={"network": {"name": "n"}},
            expect=201,
        )
        p = await s.project_id("admin")
        assert (await s.call("GET", f"{NQ}/{p}", headers=h)).json()["quota"]["network"] == 0
