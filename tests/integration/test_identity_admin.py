"""Keystone v3 administration: users, projects, roles, grants, role assignments and application
credentials, with Keystone's policy (admin manages all, a user their own credentials)."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import PASSWORD, ApiHarness, api_harness

V3 = "/identity/v3"


def password_auth(user: str, password: str, project: str) -> dict[str, object]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"id": "default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }


async def login(h: ApiHarness, user: str, password: str, project: str) -> str:
    r = await h.call("POST", f"{V3}/auth/tokens", json=password_auth(user, password, project))
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


async def role_id(h: ApiHarness, admin: str, name: str) -> str:
    roles = (await h.call("GET", f"{V3}/roles?name={name}", admin)).json()["roles"]
    assert len(roles) == 1
    return str(roles[0]["id"])


async def test_admin_creates_a_project_a_user_and_a_grant_the_user_can_use(
    tmp_path: Path, db_url: str
) -> None:
    async with api_harness(tmp_path, db_url) as h:
        admin = await h.token("admin", "admin")
        project = await h.call(
            "POST", f"{V3}/projects", admin, json={"project": {"name": "tenant-a"}}
        )
        assert project.status_code == 201, project.text
        p = project.json()["project"]
        assert p["domain_id"] == "default" and p["enabled"] and not p["is_domain"]
        user = await h.call(
            "POST",
            f"{V3}/users",
            admin,
            json={"user": {"name": "alice", "password": "alice-pw", "domain_id": "default"}},
        )
        assert user.status_code == 201, user.text
        u = user.json()["user"]
        assert "password" not in u and u["links"]["self"].endswith(f"/users/{u['id']}")
        member = await role_id(h, admin, "member")
        grant = f"{V3}/projects/{p['id']}/users/{u['id']}/roles/{member}"
        assert (await h.call("HEAD", grant, admin)).status_code == 404
        assert (await h.call("PUT", grant, admin)).status_code == 204
        assert (await h.call("HEAD", grant, admin)).status_code == 204
        assert (await h.call("GET", grant, admin)).status_code == 204
        listed = await h.call("GET", f"{V3}/projects/{p['id']}/users/{u['id']}/roles", admin)
        assert [r["name"] for r in listed.json()["roles"]] == ["member"]

        alice = await login(h, "alice", "alice-pw", "tenant-a")
        net = await h.call("POST", "/networking/v2.0/networks", alice, json={"network": {}})
        assert net.status_code == 201 and net.json()["network"]["project_id"] == p["id"]
        # a member administers nothing, but sees itself
        assert (await h.call("GET", f"{V3}/users", alice)).status_code == 403
        assert (await h.call("GET", f"{V3}/users/{u['id']}", alice)).status_code == 200
        admin_id = (await h.call("GET", f"{V3}/users?name=admin", admin)).json()["users"][0]["id"]
        assert (await h.call("GET", f"{V3}/users/{admin_id}", alice)).status_code == 403
        forbidden = await h.call(
            "POST", f"{V3}/users", alice, json={"user": {"name": "eve", "password": "eve-pass"}}
        )
        assert forbidden.status_code == 403
        mine = await h.call("GET", f"{V3}/users/{u['id']}/projects", alice)
        assert [x["name"] for x in mine.json()["projects"]] == ["tenant-a"]

        # Keystone's answers for the obvious mistakes
        again = await h.call("POST", f"{V3}/users", admin, json={"user": {"name": "alice"}})
        assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
        assert (await h.call("GET", f"{V3}/users/nope", admin)).status_code == 404
        bad = await h.call("POST", f"{V3}/users", admin, json={"user": {"name": 5}})
        assert bad.status_code == 400 and "name" in bad.json()["error"]["message"]
        assert (await h.call("PUT", grant.replace(member, "nope"), admin)).status_code == 404

        # taking the grant away and deleting the user and project
        assert (await h.call("DELETE", grant, admin)).status_code == 204
        assert (await h.call("DELETE", grant, admin)).status_code == 404
        assert (await h.call("DELETE", f"{V3}/users/{u['id']}", admin)).status_code == 204
        assert (await h.call("DELETE", f"{V3}/projects/{p['id']}", admin)).status_code == 204
        assert (await h.call("GET", f"{V3}/projects/{p['id']}", admin)).status_code == 404


async def test_roles_crud_and_built_in_roles_are_immutable(tmp_path: Path, db_url: str) -> None:
    async with api_harness(tmp_path, db_url) as h:
        admin = await h.token("admin", "admin")
        created = await h.call(
            "POST", f"{V3}/roles", admin, json={"role": {"name": "_member_", "description": "x"}}
        )
        assert created.status_code == 201, created.text
        rid = created.json()["role"]["id"]
        shown = (await h.call("GET", f"{V3}/roles/{rid}", admin)).json()["role"]
        assert shown["name"] == "_member_" and shown["description"] == "x"
        patched = await h.call(
            "PATCH", f"{V3}/roles/{rid}", admin, json={"role": {"name": "operator"}}
        )
        assert patched.json()["role"]["name"] == "operator"
        names = [r["name"] for r in (await h.call("GET", f"{V3}/roles", admin)).json()["roles"]]
        assert {"admin", "member", "reader", "service", "operator"} <= set(names)
        dup = await h.call("POST", f"{V3}/roles", admin, json={"role": {"name": "admin"}})
        assert dup.status_code == 409
        assert (await h.call("DELETE", f"{V3}/roles/{rid}", admin)).status_code == 204
        assert (await h.call("GET", f"{V3}/roles/{rid}", admin)).status_code == 404
        builtin = await role_id(h, admin, "admin")
        refused = await h.call("DELETE", f"{V3}/roles/{builtin}", admin)
        assert refused.status_code == 403 and "immutable" in refused.json()["error"]["message"]
        member = await h.principal("bob", "p1", "member")
        assert (
            await h.call("POST", f"{V3}/roles", member, json={"role": {"name": "x"}})
        ).status_code == 403


async def test_role_assignments_filters_names_and_effective(tmp_path: Path, db_url: str) -> None:
    async with api_harness(tmp_path, db_url) as h:
        admin = await h.token("admin", "admin")
        bob = await h.principal("bob", "p1", "admin")
        users = (await h.call("GET", f"{V3}/users?name=bob", admin)).json()["users"]
        bob_id = users[0]["id"]
        listed = await h.call(
            "GET", f"{V3}/role_assignments?user.id={bob_id}&include_names=true", admin
        )
        [one] = listed.json()["role_assignments"]
        assert one["role"]["name"] == "admin" and one["user"]["name"] == "bob"
        assert one["scope"]["project"]["name"] == "p1"
        assert one["scope"]["project"]["domain"] == {"id": "default", "name": "Default"}
        assert one["links"]["assignment"].endswith(f"/users/{bob_id}/roles/{one['role']['id']}")
        effective = await h.call(
            "GET", f"{V3}/role_assignments?user.id={bob_id}&effective&include_names=1", admin
        )
        names = sorted(a["role"]["name"] for a in effective.json()["role_assignments"])
        assert names == ["admin", "member", "reader"]
        # a user may list their own assignments, and only those
        assert (
            await h.call("GET", f"{V3}/role_assignments?user.id={bob_id}", bob)
        ).status_code == 200
        carol = await h.principal("carol", "p1", "member")
        assert (await h.call("GET", f"{V3}/role_assignments", carol)).status_code == 403


async def test_a_user_manages_their_own_application_credentials(
    tmp_path: Path, db_url: str
) -> None:
    async with api_harness(tmp_path, db_url) as h:
        alice = await h.principal("alice", "p1", "member")
        me = await h.call("GET", f"{V3}/auth/tokens", alice, headers={"X-Subject-Token": alice})
        alice_id = me.json()["token"]["user"]["id"]
        base = f"{V3}/users/{alice_id}/application_credentials"
        created = await h.call(
            "POST",
            base,
            alice,
            json={"application_credential": {"name": "ro", "roles": [{"name": "reader"}]}},
        )
        assert created.status_code == 201, created.text
        cred = created.json()["application_credential"]
        assert cred["secret"] and [r["name"] for r in cred["roles"]] == ["reader"]
        assert not cred["unrestricted"]
        listed = (await h.call("GET", base, alice)).json()["application_credentials"]
        assert [c["name"] for c in listed] == ["ro"] and "secret" not in listed[0]
        assert (await h.call("GET", f"{base}/{cred['id']}", alice)).status_code == 200
        # more roles than the creator holds: refused
        more = await h.call(
            "POST",
            base,
            alice,
            json={"application_credential": {"name": "x", "roles": [{"name": "admin"}]}},
        )
        assert more.status_code == 403
        # someone else's credentials are not mine to see
        bob = await h.principal("bob", "p1", "member")
        assert (await h.call("GET", base, bob)).status_code == 403
        # authenticate with it, then delete it
        body = {
            "auth": {
                "identity": {
                    "methods": ["application_credential"],
                    "application_credential": {"id": cred["id"], "secret": cred["secret"]},
                }
            }
        }
        issued = await h.call("POST", f"{V3}/auth/tokens", json=body)
        assert issued.status_code == 201
        assert [r["name"] for r in issued.json()["token"]["roles"]] == ["reader"]
        assert issued.json()["token"]["application_credential"]["restricted"] is True
        assert (await h.call("DELETE", f"{base}/{cred['id']}", alice)).status_code == 204
        assert (await h.call("GET", f"{base}/{cred['id']}", alice)).status_code == 404
        assert (await h.call("POST", f"{V3}/auth/tokens", json=body)).status_code == 401


async def test_admin_may_create_a_credential_for_another_user(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        admin = await h.token("admin", "admin")
        await h.principal("agent", "service", "service")
        agent = (await h.call("GET", f"{V3}/users?name=agent", admin)).json()["users"][0]
        project = (await h.call("GET", f"{V3}/projects?name=service", admin)).json()["projects"][0]
        created = await h.call(
            "POST",
            f"{V3}/users/{agent['id']}/application_credentials",
            admin,
            json={"application_credential": {"name": "chassis", "project_id": project["id"]}},
        )
        assert created.status_code == 201, created.text
        assert created.json()["application_credential"]["user_id"] == agent["id"]
        assert PASSWORD  # the agent's own password is not needed for this
