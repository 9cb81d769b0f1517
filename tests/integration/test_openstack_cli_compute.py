"""The real openstack CLI: mark host down (negotiated and 2.11), service and server listings with
the new states, and port data-plane status set/unset, on SQLite and on PostgreSQL + NATS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stateward.domain.compute import service_uuid
from tests.support.hosts import add_chassis
from tests.support.server import LiveServer, OpenStackCLI, running_server

pytestmark = pytest.mark.cli

ENV = {"STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "3600"}


def _register(server: LiveServer, host: str, name: str) -> str:
    with server.client(server.token(), **{"OpenStack-API-Version": "compute 2.74"}) as c:
        r = c.post(
            "/compute/v2.1/servers",
            json={"server": {"name": name, "flavorRef": "1", "host": host}},
        )
        assert r.status_code == 202, r.text
        return str(r.json()["server"]["id"])


def _requests(server: LiveServer, method: str, prefix: str) -> list[str]:
    return [
        r["path"]
        for r in server.log_records()
        if r.get("method") == method and str(r.get("path", "")).startswith(prefix)
    ]


def _services(cli: OpenStackCLI, *extra: str) -> dict[str, dict[str, Any]]:
    return {s["Host"]: s for s in cli.json(*extra, "compute", "service", "list", "--long")}


def _compute_flow(server: LiveServer, tmp_path: Path) -> None:
    add_chassis(server, "h1", "h2")
    vm1 = _register(server, "h1", "vm1")
    vm2 = _register(server, "h2", "vm2")
    cli = OpenStackCLI(server, tmp_path)

    services = _services(cli)
    assert {
        h: (s["Binary"], s["State"], s["Status"], s["Forced Down"]) for h, s in services.items()
    } == {
        "h1": ("nova-compute", "up", "enabled", False),
        "h2": ("nova-compute", "up", "enabled", False),
    }
    servers = {s["Name"]: s for s in cli.json("server", "list", "--long")}
    assert servers["vm1"]["Status"] == "ACTIVE"
    assert servers["vm1"]["Power State"] == 1  # -f json shows the integer; tables say Running
    assert servers["vm1"]["Host"] == "h1"
    assert servers["vm1"]["Host Status"] == "UP"

    # Negotiated microversion (>= 2.53): GET os-services?host=&binary= then PUT by uuid.
    cli.run("compute", "service", "set", "--down", "h1", "nova-compute")
    assert f"/compute/v2.1/os-services/{service_uuid('h1')}" in _requests(
        server, "PUT", "/compute/v2.1/os-services/"
    )
    services = _services(cli)
    assert (services["h1"]["Forced Down"], services["h1"]["State"]) == (True, "down")
    assert services["h2"]["Forced Down"] is False
    servers = {s["Name"]: s for s in cli.json("server", "list", "--long")}
    assert (servers["vm1"]["Status"], servers["vm1"]["Task State"]) == ("ERROR", None)
    assert servers["vm1"]["Host Status"] == "DOWN"
    assert servers["vm2"]["Status"] == "ACTIVE"
    shown = cli.json("server", "show", vm1)
    assert shown["OS-EXT-STS:vm_state"] == "error"
    assert shown["OS-EXT-STS:task_state"] is None
    assert shown["OS-EXT-SRV-ATTR:host"] == "h1"
    assert shown["host_status"] == "DOWN"
    assert shown["status"] == "ERROR"

    # --up restores the service only.
    cli.run("compute", "service", "set", "--up", "h1", "nova-compute")
    services = _services(cli)
    assert (services["h1"]["Forced Down"], services["h1"]["State"]) == (False, "up")
    assert cli.json("server", "show", vm1)["status"] == "ERROR"

    # Microversion 2.11: PUT os-services/force-down with host and binary.
    cli.run(
        "--os-compute-api-version",
        "2.11",
        "compute",
        "service",
        "set",
        "--down",
        "h2",
        "nova-compute",
    )
    assert "/compute/v2.1/os-services/force-down" in _requests(
        server, "PUT", "/compute/v2.1/os-services/"
    )
    services = _services(cli, "--os-compute-api-version", "2.11")
    assert (services["h2"]["Forced Down"], services["h2"]["State"]) == (True, "down")
    assert isinstance(services["h2"]["ID"], int)
    assert cli.json("server", "show", vm2)["status"] == "ERROR"
    cli.run(
        "--os-compute-api-version",
        "2.11",
        "compute",
        "service",
        "set",
        "--up",
        "h2",
        "nova-compute",
    )
    assert _services(cli)["h2"]["Forced Down"] is False

    # Recovery: reset a server, server metadata (the seed's HA policy), disable with a reason.
    cli.run("server", "set", "--state", "active", "--auto-approve", vm1)
    assert cli.json("server", "show", vm1)["status"] == "ACTIVE"
    cli.run("server", "set", "--property", "ha-policy=evacuate", vm1)
    assert cli.json("server", "show", vm1)["properties"] == {"ha-policy": "evacuate"}
    cli.run("server", "unset", "--property", "ha-policy", vm1)
    assert cli.json("server", "show", vm1)["properties"] == {}
    cli.run(
        "compute", "service", "set", "--disable", "--disable-reason", "repair", "h1", "nova-compute"
    )
    services = _services(cli)
    assert (services["h1"]["Status"], services["h1"]["Disabled Reason"]) == ("disabled", "repair")
    assert cli.json("server", "show", vm1)["host_status"] == "MAINTENANCE"
    cli.run("compute", "service", "set", "--enable", "h1", "nova-compute")
    vm3 = _register(server, "h1", "vm3")
    cli.run("server", "delete", vm3)
    assert vm3 not in {s["ID"] for s in cli.json("server", "list")}

    # Stateward's own view of the hosts (admin token).
    listed = server.stateward(
        "host", "list", "-f", "json", "--server", server.url, "--token", server.token()
    )
    hosts = {h["name"]: h for h in json.loads(listed.stdout)}
    assert set(hosts) == {"h1", "h2"}
    assert (hosts["h1"]["servers"], hosts["h1"]["forced_down"], hosts["h1"]["state"]) == (
        1,
        False,
        "up",
    )

    # A member may not force a host down.
    server.stateward("project", "create", "p2")
    server.stateward(
        "user", "create", "alice", "--password", "pw-test", "--project", "p2", "--role", "member"
    )
    alice = OpenStackCLI(server, tmp_path, username="alice", password="pw-test", project="p2")
    refused = alice.run("compute", "service", "set", "--down", "h1", "nova-compute", check=False)
    assert refused.returncode != 0

    # Port data-plane status: the member's port, set by the admin, refused for the member.
    alice.run("network", "create", "anet")
    alice.run("subnet", "create", "--network", "anet", "--subnet-range", "10.7.0.0/24", "asub")
    port = alice.json("port", "create", "--network", "anet", "aport")
    assert port["data_plane_status"] is None
    cli.run("port", "set", "--data-plane-status", "DOWN", port["id"])
    assert alice.json("port", "show", "aport")["data_plane_status"] == "DOWN"
    denied = alice.run("port", "set", "--data-plane-status", "ACTIVE", "aport", check=False)
    assert denied.returncode != 0
    assert "data_plane_status" in denied.stderr
    assert alice.json("port", "show", "aport")["data_plane_status"] == "DOWN"
    cli.run("port", "unset", "--data-plane-status", port["id"])
    assert alice.json("port", "show", "aport")["data_plane_status"] is None


def test_openstack_cli_compute_flow_on_sqlite(tmp_path: Path) -> None:
    with running_server(tmp_path, env=ENV) as server:
        _compute_flow(server, tmp_path)


@pytest.mark.postgres
@pytest.mark.nats
def test_openstack_cli_compute_flow_on_postgresql_and_nats(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {
        **ENV,
        "STATEWARD_BUS__STREAM": subject_prefix,
        "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix,
    }
    with running_server(tmp_path, db=pg_url, bus=nats_url, env=env) as server:
        _compute_flow(server, tmp_path)
