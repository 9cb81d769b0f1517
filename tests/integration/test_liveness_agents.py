"""A real server and real ``stateward agent`` processes (SQLite, HTTP): a SIGKILLed agent's
chassis goes down (chassis.down relayed; ``openstack network agent list`` shows it dead), comes
back when restarted, and the others never flap; local services are supervised and reported."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.agents import (
    FAST_LIVENESS,
    chassis_status,
    create_service_user,
    pid_running,
    start_agent,
    wait_for,
)
from tests.support.server import LiveServer, OpenStackCLI, running_server

pytestmark = pytest.mark.cli


def outbox_events(server: LiveServer) -> list[tuple[str, str | None, bool]]:
    """(event_type, chassis, relayed) of every chassis.* notification the server wrote."""
    import json

    db = sqlite3.connect(server.state_dir / "stateward.db")
    try:
        rows = db.execute(
            "SELECT event_type, envelope, sent_at FROM outbox "
            "WHERE event_type LIKE 'chassis.%' ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return [(t, json.loads(e).get("resource_id"), sent is not None) for t, e, sent in rows]


def agents_by_host(cli: OpenStackCLI) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["Host"], a["Binary"]): a for a in cli.json("network", "agent", "list")}


def test_agents_heartbeat_and_a_killed_one_goes_down_and_comes_back(tmp_path: Path) -> None:
    with running_server(tmp_path, env=FAST_LIVENESS) as server:
        create_service_user(server)
        token = server.token()
        agents = {
            "c1": start_agent(
                server, tmp_path, "c1", "10.1.0.1", args=["--service", "worker=sleep 1000"]
            ),
            "c2": start_agent(server, tmp_path, "c2", "10.1.0.2"),
            "c3": start_agent(server, tmp_path, "c3", "10.1.0.3"),
        }
        try:
            wait_for(
                lambda: (
                    {n for n, c in chassis_status(server, token).items() if c["status"] == "active"}
                    == {"c1", "c2", "c3"}
                ),
                what="three active chassis",
            )
            cli = OpenStackCLI(server, tmp_path)
            listed = agents_by_host(cli)
            assert {h for h, b in listed if b == "stateward-agent"} == {"c1", "c2", "c3"}
            assert all(a["Alive"] in (True, ":-)") for a in listed.values()), listed
            wait_for(lambda: ("c1", "worker") in agents_by_host(cli), what="worker in agent list")

            agents["c3"].kill(signal.SIGKILL)
            wait_for(
                lambda: ("chassis.down", "c3", True) in outbox_events(server),
                what="chassis.down for c3 relayed to the bus",
            )
            shown = agents_by_host(cli)[("c3", "stateward-agent")]
            assert shown["Alive"] in (False, "XXX")
            detail = cli.json("network", "agent", "show", shown["ID"])
            assert detail["alive"] in (False, "XXX"), detail
            assert chassis_status(server, token)["c3"]["status"] == "down"

            agents["c3"] = start_agent(server, tmp_path, "c3", "10.1.0.3")
            wait_for(
                lambda: ("chassis.up", "c3", True) in outbox_events(server),
                what="chassis.up for c3",
            )
            wait_for(
                lambda: agents_by_host(cli)[("c3", "stateward-agent")]["Alive"] in (True, ":-)"),
                what="c3 alive again in the agent list",
            )
            downs = [c for t, c, _ in outbox_events(server) if t == "chassis.down"]
            assert downs == ["c3"], f"only c3 may go down, saw {downs}"
        finally:
            for agent in agents.values():
                agent.stop()


def test_a_local_service_that_dies_is_reported_failed_and_respawned(tmp_path: Path) -> None:
    with running_server(tmp_path, env=FAST_LIVENESS) as server:
        create_service_user(server)
        token = server.token()
        marker = tmp_path / "starts"
        script = f"echo x >> {marker}; exec sleep 1000"
        agent = start_agent(
            server, tmp_path, "svc1", "10.2.0.1", args=["--service", f"dhcp=sh -c '{script}'"]
        )
        try:

            def running_pid() -> int | None:
                svc = chassis_status(server, token).get("svc1", {}).get("service_status", {})
                dhcp = svc.get("dhcp") or {}
                return dhcp.get("pid") if dhcp.get("state") == "running" else None

            first = wait_for(running_pid, what="dhcp running")
            assert (tmp_path / "agent-svc1" / "agent" / "dhcp.pid").read_text().strip() == str(
                first
            )
            os.kill(first, signal.SIGKILL)
            failed = wait_for(
                lambda: (
                    chassis_status(server, token)["svc1"]["service_status"]["dhcp"]
                    if chassis_status(server, token)["svc1"]["service_status"]["dhcp"]["state"]
                    == "failed"
                    else None
                ),
                timeout=10,
                what="dhcp reported failed",
            )
            assert "signal 9" in failed["detail"]
            second = wait_for(
                lambda: p if (p := running_pid()) and p != first else None,
                what="dhcp respawned",
            )
            assert pid_running(second) and not pid_running(first)
            assert marker.read_text().count("x") == 2
            cli = OpenStackCLI(server, tmp_path)
            row = agents_by_host(cli)[("svc1", "dhcp")]
            assert row["Alive"] in (True, ":-)")
        finally:
            agent.stop()
        # the agent stops its services when it stops
        assert not pid_running(second)


def test_api_and_cli_guards(tmp_path: Path) -> None:
    with running_server(tmp_path, env=FAST_LIVENESS) as server:
        create_service_user(server)
        admin = server.token()
        svc = server.token("agent", "pw-test", "service")
        with server.client(svc) as client:
            too_long = client.put(
                "/v1/chassis/x1", json={"chassis": {"ip": "10.3.0.1", "report_interval": 1.0}}
            )
            assert too_long.status_code == 400
            assert "more than twice" in too_long.json()["error"]["message"]
            bad_ip = client.put("/v1/chassis/x1", json={"chassis": {"ip": "nope"}})
            assert bad_ip.status_code == 400 and "chassis.ip" in bad_ip.json()["error"]["message"]
            ok = client.put(
                "/v1/chassis/x1", json={"chassis": {"ip": "10.3.0.1", "tunnel_types": ["vxlan"]}}
            )
            assert ok.status_code == 201
            assert ok.json()["report_interval"] == 0.25
            assert ok.json()["chassis_down_time"] == 1.5
            assert client.post("/v1/chassis/ghost/heartbeat", json={}).status_code == 404
            assert client.delete("/v1/chassis/x1").status_code == 403  # admin only
        member = server.stateward(  # a plain member may not register a chassis
            "user", "create", "bob", "--password", "pw-test", "--project", "admin",
            "--role", "member",
        )  # fmt: skip
        assert member.returncode == 0
        with server.client(server.token("bob", "pw-test", "admin")) as client:
            assert (
                client.put("/v1/chassis/x2", json={"chassis": {"ip": "10.3.0.2"}}).status_code
                == 403
            )
        with server.client(admin) as client:
            with server.client(svc) as agent_client:
                agent_client.post("/v1/chassis/x1/heartbeat", json={})
            refused = client.delete("/v1/chassis/x1")
            assert refused.status_code == 409
            assert client.get("/v1/chassis?status=bogus").status_code == 400
            wait_for(
                lambda: client.get("/v1/chassis?status=down").json()["chassis"],
                what="x1 down",
            )
            assert client.get("/v1/chassis/x1").json()["chassis"]["status"] == "down"
            # Neutron's behaviour: a port bound to a dead host gets binding_failed
            net = client.post("/networking/v2.0/networks", json={"network": {"name": "n1"}})
            port = client.post(
                "/networking/v2.0/ports",
                json={"port": {"network_id": net.json()["network"]["id"], "binding:host_id": "x1"}},
            )
            assert port.status_code == 201, port.text
            assert port.json()["port"]["binding:vif_type"] == "binding_failed"

        listed = server.stateward("chassis", "list", "--status", "down", "-f", "json")
        assert [c["name"] for c in __import__("json").loads(listed.stdout)] == ["x1"]
        cleaned = server.stateward("chassis", "clean-stale", "--older-than", "1h", "--yes")
        assert "no stale chassis" in cleaned.stdout
        cleaned = server.stateward("chassis", "clean-stale", "--older-than", "0s", "--yes")
        assert "x1" in cleaned.stdout and "removed 1 stale chassis" in cleaned.stdout
        missing = server.stateward("chassis", "show", "x1", check=False)
        assert missing.returncode == 1 and "could not be found" in missing.stderr


def test_agent_set_disable_and_enable(tmp_path: Path) -> None:
    with running_server(tmp_path, env=FAST_LIVENESS) as server:
        create_service_user(server)
        agent = start_agent(server, tmp_path, "d1", "10.4.0.1")
        try:
            cli = OpenStackCLI(server, tmp_path)
            row = wait_for(
                lambda: agents_by_host(cli).get(("d1", "stateward-agent")), what="d1 agent"
            )
            cli.run("network", "agent", "set", "--disable", row["ID"])
            shown = cli.json("network", "agent", "show", row["ID"])
            assert shown["admin_state_up"] in (False, "DOWN")
            assert agents_by_host(cli)[("d1", "stateward-agent")]["State"] in (False, "DOWN")
            cli.run("network", "agent", "set", "--enable", row["ID"])
            assert cli.json("network", "agent", "show", row["ID"])["admin_state_up"] in (
                True,
                "UP",
            )
        finally:
            agent.stop()


def test_server_refuses_a_down_time_not_more_than_twice_the_interval(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "STATEWARD_STATE_DIR": str(tmp_path / "st"),
            "STATEWARD_LIVENESS__REPORT_INTERVAL": "30",
            "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "60",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "stateward", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "chassis_down_time (60.0) must be more than twice report_interval (30.0)" in (
        result.stderr
    )


def test_serve_supervises_and_reports_its_own_services(tmp_path: Path) -> None:
    """Seed 000: services that run beside the server are managed and reported the same way."""
    import json

    services = [{"name": "metadata", "command": ["sleep", "1000"], "respawn_delay": 0.2}]
    env = {
        **FAST_LIVENESS,
        "STATEWARD_LIVENESS__SERVER_CHASSIS": "controller-1",
        "STATEWARD_LIVENESS__SERVICES": json.dumps(services),
    }
    with running_server(tmp_path, env=env) as server:
        token = server.token()

        def metadata() -> dict[str, Any]:
            c = chassis_status(server, token).get("controller-1") or {}
            return dict((c.get("service_status") or {}).get("metadata") or {})

        first = wait_for(
            lambda: metadata().get("state") == "running" and metadata()["pid"],
            what="metadata running",
        )
        assert chassis_status(server, token)["controller-1"]["status"] == "active"
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: metadata().get("state") == "running" and metadata()["pid"] != first,
            what="metadata respawned",
        )
        cli = OpenStackCLI(server, tmp_path)
        assert agents_by_host(cli)[("controller-1", "metadata")]["Alive"] in (True, ":-)")


def test_agents_authenticate_with_app_credentials_clouds_yaml_and_token(tmp_path: Path) -> None:
    import json

    with running_server(tmp_path, env=FAST_LIVENESS) as server:
        create_service_user(server)
        cred = json.loads(
            server.stateward(
                "app-cred",
                "create",
                "agent-cred",
                "--user",
                "agent",
                "--project",
                "service",
                "-f",
                "json",
            ).stdout
        )
        clouds = tmp_path / "clouds.yaml"
        clouds.write_text(
            json.dumps(
                {
                    "clouds": {
                        "chassis": {
                            "auth_type": "v3applicationcredential",
                            "auth": {
                                "auth_url": f"{server.url}/identity",
                                "application_credential_id": cred["id"],
                                "application_credential_secret": cred["secret"],
                            },
                        }
                    }
                }
            )
        )
        via_cloud = start_agent(
            server,
            tmp_path,
            "ac1",
            "10.5.0.1",
            args=["--os-cloud", "chassis"],
            env={"OS_CLIENT_CONFIG_FILE": str(clouds), "STATEWARD_AGENT__USERNAME": ""},
        )
        via_config = start_agent(
            server,
            tmp_path,
            "ac2",
            "10.5.0.2",
            env={
                "STATEWARD_AGENT__USERNAME": "",
                "STATEWARD_AGENT__APPLICATION_CREDENTIAL_ID": cred["id"],
                "STATEWARD_AGENT__APPLICATION_CREDENTIAL_SECRET": cred["secret"],
            },
        )
        via_token = start_agent(
            server,
            tmp_path,
            "ac3",
            "10.5.0.3",
            env={
                "STATEWARD_TOKEN": server.token("agent", "pw-test", "service"),
                "STATEWARD_AGENT__USERNAME": "",
            },
        )
        wrong = start_agent(server, tmp_path, "ac4", "10.5.0.4", password="wrong")
        try:
            token = server.token()
            wait_for(
                lambda: (
                    {n for n, c in chassis_status(server, token).items() if c["status"] == "active"}
                    == {"ac1", "ac2", "ac3"}
                ),
                what="three agents authenticated three ways",
            )
            assert wrong.process.wait(timeout=20) == 1
            assert "authentication as user agent refused" in wrong.log.read_text()
        finally:
            for agent in (via_cloud, via_config, via_token):
                agent.stop()


async def test_the_client_renews_its_token_before_expiry(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from stateward.agent.client import Credentials, ServerClient

    with running_server(tmp_path, env=FAST_LIVENESS) as server:
        create_service_user(server)
        client = ServerClient(
            [server.url], Credentials(username="agent", password="pw-test", project="service")
        )
        try:
            first = await client.token()
            assert await client.token() == first  # still fresh: reused
            assert client._expires is not None
            lifetime = client._expires - datetime.now(UTC)
            assert lifetime > timedelta(minutes=50)
            # 80% of the lifetime gone: the next request renews before the token expires
            client._expires = datetime.now(UTC) + client._margin - timedelta(seconds=1)
            response = await client.request("GET", "/v1/chassis")
            assert response.status_code == 200
            assert await client.token() != first
        finally:
            await client.close()
