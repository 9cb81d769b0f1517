"""The real openstack CLI drives networks, subnets, ports and tokens against a live server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import LiveServer, OpenStackCLI, running_server

pytestmark = pytest.mark.cli


def _network_flow(server: LiveServer, tmp_path: Path) -> None:
    cli = OpenStackCLI(server, tmp_path)
    token = cli.json("token", "issue")
    assert token["project_id"] and token["user_id"]

    net = cli.json("network", "create", "net1")
    assert net["name"] == "net1"
    assert net["provider:network_type"] == "vxlan"
    assert net["provider:segmentation_id"] >= 1

    subnet = cli.json(
        "subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.0/24", "sub1"
    )
    assert subnet["cidr"] == "10.0.0.0/24"
    assert subnet["gateway_ip"] == "10.0.0.1"

    port = cli.json("port", "create", "--network", "net1", "p1")
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.2"
    assert port["mac_address"].startswith("fa:16:3e:")

    listed = cli.json("port", "list")
    assert [p["Name"] for p in listed] == ["p1"]
    shown = cli.json("port", "show", "p1")
    assert shown["id"] == port["id"]
    assert shown["network_id"] == net["id"]

    cli.run("port", "delete", "p1")
    assert cli.json("port", "list") == []
    missing = cli.run("port", "show", "p1", check=False)
    assert missing.returncode != 0
    assert "No Port found for p1" in missing.stderr


def test_openstack_cli_network_flow_on_sqlite(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        _network_flow(server, tmp_path)


@pytest.mark.postgres
@pytest.mark.nats
def test_openstack_cli_network_flow_on_postgresql_and_nats(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {"STATEWARD_BUS__STREAM": subject_prefix, "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix}
    with running_server(tmp_path, db=pg_url, bus=nats_url, env=env) as server:
        _network_flow(server, tmp_path)
