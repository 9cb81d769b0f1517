"""Two 'serve' processes on one PostgreSQL database serve the same data to the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import OpenStackCLI, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.cli]


def test_two_processes_share_one_database(tmp_path: Path, pg_url: str) -> None:
    first = start_server(tmp_path, db=pg_url, name="s1")
    second = start_server(tmp_path, db=pg_url, name="s2")
    try:
        one = OpenStackCLI(first, tmp_path, cloud="one")
        two = OpenStackCLI(second, tmp_path, cloud="two")
        net = one.json("network", "create", "shared-view")
        subnet = two.json(
            "subnet",
            "create",
            "--network",
            "shared-view",
            "--subnet-range",
            "10.9.0.0/24",
            "sv-sub",
        )
        port_a = one.json("port", "create", "--network", "shared-view", "pa")
        port_b = two.json("port", "create", "--network", "shared-view", "pb")
        # Allocation is decided by the shared store: no address is handed out twice.
        assert port_a["fixed_ips"][0]["ip_address"] != port_b["fixed_ips"][0]["ip_address"]
        assert {p["Name"] for p in one.json("port", "list")} == {"pa", "pb"}
        assert {p["Name"] for p in two.json("port", "list")} == {"pa", "pb"}
        assert two.json("network", "show", "shared-view")["subnets"] == [subnet["id"]]
        assert one.json("network", "show", net["id"])["id"] == net["id"]
        # A token issued by one process is accepted by the other.
        token = first.token()
        with second.client(token) as client:
            assert client.get("/networking/v2.0/networks").status_code == 200
    finally:
        first.stop()
        second.stop()
