"""Identity hardening (Keystone's rules): a token from a token keeps its parent's limits, expiry
and audit chain; access taken away revokes tokens at once, in every process; no empty or trivial
passwords; password guessing is throttled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port
from tests.support.api import ApiHarness, api_harness
from tests.support.server import ADMIN_PASSWORD, running_server

V3 = "/identity/v3"
NETWORKS = "/networking/v2.0/networks"


def password_body(user: str, password: str, project: str | None = None) -> dict[str, object]:
    auth: dict[str, object] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
        }
    }
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def token_body(token: str, project: str | None = None) -> dict[str, object]:
    auth: dict[str, object] = {"identity": {"methods": ["token"], "token": {"id": token}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


async def issue(h: ApiHarness, body: dict[str, object], expect: int = 201) -> httpx.Response:
    r = await h.call("POST", f"{V3}/auth/tokens", json=body)
    assert r.status_code == expect, r.text
    return r


async def reader_cred(h: ApiHarness) -> tuple[str, str]:
    """alice (member of p1) makes an application credential restricted to reader."""
    alice = await h.principal("alice", "p1", "member")
    me = await h.call("GET", f"{V3}/auth/tokens", alice, headers={"X-Subject-Token": alice})
    uid = me.json()["token"]["user"]["id"]
    r = await h.call(
        "POST",
        f"{V3}/users/{uid}/application_credentials",
        alice,
        json={"application_credential": {"name": "ro", "roles": [{"name": "reader"}]}},
    )
    cred = r.json()["application_credential"]
    return cred["id"], cred["secret"]


def app_cred_body(cred_id: str, secret: str) -> dict[str, object]:
    return {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred_id, "secret": secret},
            }
        }
    }


async def test_a_token_from_a_restricted_credential_keeps_the_restriction(
    tmp_path: Path, db_url: str
) -> None:
    async with api_harness(tmp_path, db_url) as h:
        cred_id, secret = await reader_cred(h)
        first = (await issue(h, app_cred_body(cred_id, secret))).headers["X-Subject-Token"]
        assert (await h.call("POST", NETWORKS, first, json={"network": {}})).status_code == 403
        again = await issue(h, token_body(first))
        body = again.json()["token"]
        assert [r["name"] for r in body["roles"]] == ["reader"]
        assert body["application_credential"]["id"] == cred_id
        child = again.headers["X-Subject-Token"]
        # Before: the re-issued token carried every role of the user and could do this.
        assert (await h.call("POST", NETWORKS, child, json={"network": {}})).status_code == 403
        assert (await h.call("GET", NETWORKS, child)).status_code == 200
        # and it cannot be rescoped to another project either
        await h.runtime.identity.create_project("p2")
        await h.runtime.identity.assign_role("alice", "p2", "member")
        rescope = await issue(h, token_body(child, "p2"), expect=403)
        assert "cannot be rescoped" in rescope.json()["error"]["message"]


async def test_token_chains_keep_the_parents_expiry_and_are_revoked_with_it(
    tmp_path: Path, db_url: str
) -> None:
    async with api_harness(tmp_path, db_url) as h:
        unscoped = await issue(h, password_body("admin", h_password()))
        parent = unscoped.headers["X-Subject-Token"]
        parent_body = unscoped.json()["token"]
        child = await issue(h, token_body(parent, "admin"))
        grandchild = await issue(h, token_body(child.headers["X-Subject-Token"]))
        for r in (child, grandchild):
            body = r.json()["token"]
            assert body["expires_at"] == parent_body["expires_at"]
            assert body["audit_ids"][1] == parent_body["audit_ids"][0]
        grandchild_token = grandchild.headers["X-Subject-Token"]
        assert (await h.call("GET", NETWORKS, grandchild_token)).status_code == 200
        revoke = await h.call(
            "DELETE", f"{V3}/auth/tokens", parent, headers={"X-Subject-Token": parent}
        )
        assert revoke.status_code == 204
        for token in (child.headers["X-Subject-Token"], grandchild_token):
            assert (await h.call("GET", NETWORKS, token)).status_code == 401


def h_password() -> str:
    from tests.support.api import PASSWORD

    return PASSWORD


async def test_access_taken_away_revokes_tokens_at_once(tmp_path: Path, db_url: str) -> None:
    async with api_harness(tmp_path, db_url, **{"identity.token_cache_seconds": 60.0}) as h:
        admin = await h.token("admin", "admin")
        # role removed
        bob = await h.principal("bob", "p1", "member")
        assert (await h.call("GET", NETWORKS, bob)).status_code == 200  # cached now
        await h.runtime.identity.unassign_role("bob", "p1", "member")
        assert (await h.call("GET", NETWORKS, bob)).status_code == 401
        # password changed (by an admin, through the API)
        carol = await h.principal("carol", "p1", "member")
        assert (await h.call("GET", NETWORKS, carol)).status_code == 200
        uid = (await h.call("GET", f"{V3}/users?name=carol", admin)).json()["users"][0]["id"]
        changed = await h.call(
            "PATCH", f"{V3}/users/{uid}", admin, json={"user": {"password": "carol-new-pw"}}
        )
        assert changed.status_code == 200
        assert (await h.call("GET", NETWORKS, carol)).status_code == 401
        # own password changed
        dave = await h.principal("dave", "p1", "member")
        duid = (await h.call("GET", f"{V3}/users?name=dave", admin)).json()["users"][0]["id"]
        assert (await h.call("GET", NETWORKS, dave)).status_code == 200
        own = await h.call(
            "POST",
            f"{V3}/users/{duid}/password",
            dave,
            json={"user": {"original_password": h_password(), "password": "dave-new-pw"}},
        )
        assert own.status_code == 204, own.text
        assert (await h.call("GET", NETWORKS, dave)).status_code == 401
        # application credential deleted
        cred_id, secret = await reader_cred(h)
        token = (await issue(h, app_cred_body(cred_id, secret))).headers["X-Subject-Token"]
        assert (await h.call("GET", NETWORKS, token)).status_code == 200
        auid = (await h.call("GET", f"{V3}/users?name=alice", admin)).json()["users"][0]["id"]
        deleted = await h.call(
            "DELETE", f"{V3}/users/{auid}/application_credentials/{cred_id}", admin
        )
        assert deleted.status_code == 204
        assert (await h.call("GET", NETWORKS, token)).status_code == 401
        # user disabled
        erin = await h.principal("erin", "p1", "member")
        euid = (await h.call("GET", f"{V3}/users?name=erin", admin)).json()["users"][0]["id"]
        assert (await h.call("GET", NETWORKS, erin)).status_code == 200
        await h.call("PATCH", f"{V3}/users/{euid}", admin, json={"user": {"enabled": False}})
        assert (await h.call("GET", NETWORKS, erin)).status_code == 401


@pytest.mark.postgres
@pytest.mark.nats
def test_a_revocation_through_one_process_holds_at_once_in_another(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {
        "STATEWARD_BUS__STREAM": subject_prefix,
        "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix,
        "STATEWARD_IDENTITY__TOKEN_CACHE_SECONDS": "300",
    }
    with (
        running_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="a") as a,
        running_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="b") as b,
    ):
        a.stateward("project", "create", "p1")
        for user in ("bob", "carol"):
            a.stateward(
                "user", "create", user, "--password", "pw-test", "--project", "p1",
                "--role", "member",
            )  # fmt: skip
        bob = b.token("bob", "pw-test", "p1")
        carol = b.token("carol", "pw-test", "p1")
        with b.client(bob) as client:
            assert client.get(NETWORKS).status_code == 200  # in b's cache for 300 s
        with b.client(carol) as client:
            assert client.get(NETWORKS).status_code == 200
        a.stateward("role", "remove", "member", "--user", "bob", "--project", "p1")
        with b.client(bob) as client:
            assert client.get(NETWORKS).status_code == 401
        a.stateward("user", "set-password", "carol", "--password", "carol-new-pw")
        with b.client(carol) as client:
            assert client.get(NETWORKS).status_code == 401
        assert b.token("carol", "carol-new-pw", "p1")


@pytest.mark.parametrize("password", ["", "   ", "abc"])
async def test_empty_and_trivial_passwords_are_refused(
    tmp_path: Path, db_url: str, password: str
) -> None:
    async with api_harness(tmp_path, db_url) as h:
        admin = await h.token("admin", "admin")
        r = await h.call(
            "POST", f"{V3}/users", admin, json={"user": {"name": "u", "password": password}}
        )
        assert r.status_code == 400
        message = r.json()["error"]["message"]
        assert "must not be empty" in message or "at least 6 characters" in message
        assert (await h.call("GET", f"{V3}/users?name=u", admin)).json()["users"] == []


def test_serve_refuses_an_empty_admin_password(tmp_path: Path, python_env: dict[str, str]) -> None:
    env = {**python_env, "STATEWARD_STATE_DIR": str(tmp_path / "s"), "STATEWARD_ADMIN_PASSWORD": ""}
    result = subprocess.run(
        [sys.executable, "-m", "stateward", "serve", "--port", str(free_port())],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "error: admin password: Password must not be empty." in result.stderr
    assert ADMIN_PASSWORD not in result.stderr


async def test_a_user_is_locked_after_repeated_failures(tmp_path: Path, db_url: str) -> None:
    settings = {
        "identity.lockout_failure_attempts": 3,
        "identity.lockout_duration": 600.0,
        "identity.address_failure_limit": 0,
    }
    async with api_harness(tmp_path, db_url, **settings) as h:
        await h.principal("bob", "p1", "member")
        for _ in range(3):
            await issue(h, password_body("bob", "wrong-guess", "p1"), expect=401)
        locked = await issue(h, password_body("bob", h_password(), "p1"), expect=401)
        message = locked.json()["error"]["message"]
        assert "locked" in message and "try again in" in message
        # another user is not affected, and a success resets the count
        await h.principal("carol", "p1", "member")
        await issue(h, password_body("carol", "wrong-guess", "p1"), expect=401)
        await issue(h, password_body("carol", h_password(), "p1"))
        for _ in range(2):
            await issue(h, password_body("carol", "wrong-guess", "p1"), expect=401)
        await issue(h, password_body("carol", h_password(), "p1"))


async def test_an_address_guessing_passwords_gets_429(tmp_path: Path, db_url: str) -> None:
    settings = {
        "identity.lockout_failure_attempts": 0,
        "identity.address_failure_limit": 5,
        "identity.address_failure_window": 300.0,
    }
    async with api_harness(tmp_path, db_url, **settings) as h:
        for user in ("admin", "nobody", "admin", "x", "admin"):
            await issue(h, password_body(user, "guess-guess", "admin"), expect=401)
        throttled = await issue(h, password_body("admin", h_password(), "admin"), expect=429)
        assert 0 < int(throttled.headers["Retry-After"]) <= 300
        assert "Too many failed authentications" in throttled.json()["error"]["message"]
        metrics = (await h.call("GET", "/metrics")).text
        assert 'stateward_identity_auth_refused_total{reason="throttled"}' in metrics
