"""Keystone v3 behaviour the openstack CLI and the agents rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api import PASSWORD, api_harness


def password_auth(user: str, password: str, project: str | None = "admin") -> dict[str, object]:
    auth: dict[str, object] = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": user, "domain": {"name": "Default"}, "password": password}
            },
        }
    }
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


async def test_version_discovery(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        root = await h.call("GET", "/identity")
        assert root.status_code == 300
        [v3] = root.json()["versions"]["values"]
        assert v3["id"].startswith("v3") and v3["status"] == "stable"
        assert v3["links"][0]["href"].endswith("/identity/v3/")
        assert (await h.call("GET", "/identity/v3")).json()["version"]["id"] == v3["id"]


async def test_password_token_with_catalog_roles_and_domains(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        r = await h.call("POST", "/identity/v3/auth/tokens", json=password_auth("admin", PASSWORD))
        assert r.status_code == 201
        token = r.headers["X-Subject-Token"]
        body = r.json()["token"]
        assert body["user"]["name"] == "admin"
        assert body["user"]["domain"] == {"id": "default", "name": "Default"}
        assert body["project"]["name"] == "admin"
        assert body["project"]["domain"]["id"] == "default"
        assert {"admin", "member", "reader"} <= {role["name"] for role in body["roles"]}
        catalog = {entry["type"]: entry["endpoints"][0]["url"] for entry in body["catalog"]}
        assert catalog["identity"] == "http://testserver/identity"
        assert catalog["network"] == "http://testserver/networking"
        assert catalog["compute"] == "http://testserver/compute/v2.1"
        assert catalog["alarming"] == "http://testserver"
        assert body["expires_at"].endswith("Z")

        check = await h.call(
            "GET", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token}
        )
        assert check.status_code == 200
        assert check.json()["token"]["user"]["id"] == body["user"]["id"]
        assert (
            await h.call(
                "HEAD", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token}
            )
        ).status_code == 200


async def test_revoked_token_is_refused(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        token = await h.token("admin", "admin")
        assert (await h.call("GET", "/networking/v2.0/networks", token)).status_code == 200
        revoke = await h.call(
            "DELETE", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token}
        )
        assert revoke.status_code == 204
        after = await h.call("GET", "/networking/v2.0/networks", token)
        assert after.status_code == 401
        assert "NeutronError" in after.json()


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (password_auth("admin", "wrong"), 401, "requires authentication"),
        (password_auth("nobody", PASSWORD), 401, "requires authentication"),
        ({"auth": {}}, 400, "identity"),
        (
            {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {"user": {"name": "admin", "password": "x"}},
                    }
                }
            },
            400,
            "domain",
        ),
        ({"auth": {"identity": {"methods": ["kerberos"], "kerberos": {}}}}, 401, "Unsupported"),
        (
            {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {"name": 5, "domain": {"id": "default"}, "password": "x"}
                        },
                    }
                }
            },
            400,
            "password.user.name",
        ),
    ],
)
async def test_bad_credentials_and_malformed_requests(
    tmp_path: Path, body: dict[str, object], status: int, fragment: str
) -> None:
    async with api_harness(tmp_path) as h:
        r = await h.call("POST", "/identity/v3/auth/tokens", json=body)
        assert r.status_code == status, r.text
        assert fragment in r.json()["error"]["message"]


async def test_malformed_json_is_a_400(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        r = await h.call(
            "POST",
            "/identity/v3/auth/tokens",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400
        assert "not valid JSON" in r.json()["error"]["message"]


async def test_user_without_role_on_project_cannot_scope(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        await h.principal("alice", "p1", "member")
        await h.runtime.identity.create_project("p2")
        r = await h.call(
            "POST", "/identity/v3/auth/tokens", json=password_auth("alice", PASSWORD, "p2")
        )
        assert r.status_code == 401


async def test_application_credential_authenticates_with_its_roles_only(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        await h.principal("agent", "service", "service")
        await h.runtime.identity.assign_role("agent", "service", "reader")
        cred, secret = await h.runtime.identity.create_app_cred(
            "agent", "service", "chassis-1", roles=["service"]
        )
        body = {
            "auth": {
                "identity": {
                    "methods": ["application_credential"],
                    "application_credential": {"id": cred.id, "secret": secret},
                }
            }
        }
        r = await h.call("POST", "/identity/v3/auth/tokens", json=body)
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert [role["name"] for role in token["roles"]] == ["service"]
        assert token["project"]["name"] == "service"
        assert token["application_credential"]["id"] == cred.id

        body["auth"]["identity"]["application_credential"]["secret"] = "wrong"  # type: ignore[index]
        assert (await h.call("POST", "/identity/v3/auth/tokens", json=body)).status_code == 401


async def test_token_method_rescopes_and_keeps_the_user(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        token = await h.token("admin", "admin")
        body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
        r = await h.call("POST", "/identity/v3/auth/tokens", json=body)
        assert r.status_code == 201
        assert r.json()["token"]["project"]["name"] == "admin"
        assert r.json()["token"]["methods"] == ["token"]


async def test_listing_projects_is_admin_only(tmp_path: Path) -> None:
    async with api_harness(tmp_path) as h:
        member = await h.principal("bob", "p1", "member")
        admin = await h.token("admin", "admin")
        assert (await h.call("GET", "/identity/v3/projects", member)).status_code == 403
        names = {
            p["name"]
            for p in (await h.call("GET", "/identity/v3/projects", admin)).json()["projects"]
        }
        assert {"admin", "p1"} <= names
