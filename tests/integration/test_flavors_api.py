"""Nova flavors over the API: DevStack's defaults, create/show/delete per microversion, extra
specs, private flavors with an access list, and who may do what (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tests.support.inproc import stack

F = "/compute/v2.1/flavors"


async def test_devstack_defaults_and_microversion_shapes(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.user("alice", "p2", "member")
        alice = await s.headers("alice", "p2")
        listed = (await s.call("GET", F, headers=alice, expect=200)).json()["flavors"]
        assert [f["name"] for f in listed] == [
            "m1.tiny",
            "m1.small",
            "m1.medium",
            "m1.large",
            "m1.xlarge",
            "m1.nano",
            "m1.micro",
        ]
        assert set(listed[0]) == {"id", "name", "links"}
        tiny = (await s.call("GET", f"{F}/1", headers=alice, expect=200)).json()["flavor"]
        assert (tiny["ram"], tiny["disk"], tiny["vcpus"], tiny["swap"]) == (512, 1, 1, "")
        assert tiny["os-flavor-access:is_public"] is True and "extra_specs" not in tiny
        new = (
            await s.call("GET", f"{F}/1", headers=await s.headers("alice", "p2", mv="2.75"))
        ).json()["flavor"]
        assert new["swap"] == 0 and new["description"] is None and new["extra_specs"] == {}
        detail = (await s.call("GET", f"{F}/detail?minRam=4096", headers=alice, expect=200)).json()[
            "flavors"
        ]
        assert [f["name"] for f in detail] == ["m1.medium", "m1.large", "m1.xlarge"]
        await s.call("GET", f"{F}/nope", headers=alice, expect=404)


async def test_create_extra_specs_delete_and_policy(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.user("alice", "p2", "member")
        admin = await s.headers(mv="2.61")
        alice = await s.headers("alice", "p2", mv="2.61")
        body = {"flavor": {"name": "c1.big", "ram": 1024, "vcpus": 2, "disk": 10, "id": "c1"}}
        await s.call("POST", F, json=body, headers=alice, expect=403)
        made = (await s.call("POST", F, json=body, headers=admin, expect=200)).json()["flavor"]
        assert (made["id"], made["ram"], made["extra_specs"]) == ("c1", 1024, {})
        dup = await s.call("POST", F, json=body, headers=admin)
        assert dup.status_code == 409 and "ID c1 already exists" in dup.text
        renamed = {"flavor": {**body["flavor"], "id": "c2"}}
        dup = await s.call("POST", F, json=renamed, headers=admin)
        assert dup.status_code == 409 and "name c1.big already exists" in dup.text
        bad = {"flavor": {"name": "x", "ram": -1, "vcpus": 1, "disk": 1}}
        assert (await s.call("POST", F, json=bad, headers=admin)).status_code == 400
        specs = f"{F}/c1/os-extra_specs"
        await s.call(
            "POST", specs, json={"extra_specs": {"hw:numa_nodes": "1"}}, headers=alice, expect=403
        )
        await s.call(
            "POST",
            specs,
            json={"extra_specs": {"hw:numa_nodes": "1", "a": "b"}},
            headers=admin,
            expect=200,
        )
        await s.call("PUT", f"{specs}/a", json={"a": "c"}, headers=admin, expect=200)
        await s.call("PUT", f"{specs}/a", json={"b": "c"}, headers=admin, expect=400)
        got = (await s.call("GET", specs, headers=alice, expect=200)).json()
        assert got == {"extra_specs": {"hw:numa_nodes": "1", "a": "c"}}
        assert (await s.call("GET", f"{specs}/a", headers=alice)).json() == {"a": "c"}
        await s.call("DELETE", f"{specs}/a", headers=admin, expect=200)
        await s.call("DELETE", f"{specs}/a", headers=admin, expect=404)
        shown = (await s.call("GET", f"{F}/c1", headers=alice)).json()["flavor"]
        assert shown["extra_specs"] == {"hw:numa_nodes": "1"}
        # 2.55: description, settable by update
        d = await s.headers(mv="2.55")
        r = await s.call(
            "PUT", f"{F}/c1", json={"flavor": {"description": "big"}}, headers=d, expect=200
        )
        assert r.json()["flavor"]["description"] == "big"
        await s.call(
            "PUT",
            f"{F}/c1",
            json={"flavor": {"description": "x"}},
            headers=await s.headers(mv="2.54"),
            expect=404,
        )
        await s.call("DELETE", f"{F}/c1", headers=alice, expect=403)
        await s.call("DELETE", f"{F}/c1", headers=admin, expect=202)
        await s.call("GET", f"{F}/c1", headers=admin, expect=404)


async def test_private_flavor_is_seen_only_with_access(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.user("alice", "p2", "member")
        await s.user("bob", "p3", "member")
        p2 = await s.project_id("p2")
        admin = await s.headers()
        alice = await s.headers("alice", "p2")
        bob = await s.headers("bob", "p3")
        body = {
            "flavor": {
                "name": "secret",
                "ram": 64,
                "vcpus": 1,
                "disk": 0,
                "id": "s1",
                "os-flavor-access:is_public": False,
            }
        }
        await s.call("POST", F, json=body, headers=admin, expect=200)
        await s.call("GET", f"{F}/s1", headers=alice, expect=404)
        acts = f"{F}/s1/action"
        r = await s.call(
            "POST", acts, json={"addTenantAccess": {"tenant": p2}}, headers=admin, expect=200
        )
        assert r.json() == {"flavor_access": [{"flavor_id": "s1", "tenant_id": p2}]}
        await s.call(
            "POST", acts, json={"addTenantAccess": {"tenant": p2}}, headers=admin, expect=409
        )
        await s.call(
            "POST", acts, json={"addTenantAccess": {"tenant": p2}}, headers=alice, expect=403
        )
        assert (await s.call("GET", f"{F}/s1", headers=alice, expect=200)).json()["flavor"][
            "os-flavor-access:is_public"
        ] is False
        assert "secret" in [
            f["name"] for f in (await s.call("GET", F, headers=alice)).json()["flavors"]
        ]
        assert "secret" not in [
            f["name"] for f in (await s.call("GET", F, headers=bob)).json()["flavors"]
        ]
        await s.call("GET", f"{F}/s1", headers=bob, expect=404)
        # admins list private flavors only when asking
        names = [
            f["name"]
            for f in (await s.call("GET", f"{F}?is_public=false", headers=admin)).json()["flavors"]
        ]
        assert names == ["secret"]
        await s.call("GET", f"{F}/1/os-flavor-access", headers=admin, expect=404)
        listed = (await s.call("GET", f"{F}/s1/os-flavor-access", headers=admin)).json()
        assert listed["flavor_access"] == [{"flavor_id": "s1", "tenant_id": p2}]
        await s.call(
            "POST", acts, json={"removeTenantAccess": {"tenant": p2}}, headers=admin, expect=200
        )
        await s.call("GET", f"{F}/s1", headers=alice, expect=404)
        # a server needs a flavor it can see
        r = await s.call(
            "POST",
            "/compute/v2.1/servers",
            headers=alice,
            json={"server": {"name": "v", "flavorRef": "s1"}},
        )
        assert r.status_code == 400 and "Flavor s1 could not be found." in r.text
