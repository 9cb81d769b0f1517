"""The real openstack CLI against the compute catalog, on SQLite and on PostgreSQL + NATS with
two server processes: flavors, images (data through one process, back through the other),
quotas (``quota show/set`` calls Nova and Neutron), and ``server create --image --flavor
--network`` landing on a live chassis whose agent reports its capacity; beyond a quota, Nova's
403."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.agents import AgentProcess, create_service_user, start_agent, wait_for
from tests.support.server import LiveServer, OpenStackCLI, running_server, start_server

pytestmark = pytest.mark.cli

LIVENESS = {
    "STATEWARD_LIVENESS__REPORT_INTERVAL": "1",
    "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "10",
}
# each chassis has room for two m1.tiny (512 MB) and nothing bigger than m1.small
CAPACITY = json.dumps({"vcpus": "2", "memory_mb": "1536", "disk_gb": "40"})


def _agents(servers: list[LiveServer], tmp_path: Path) -> list[AgentProcess]:
    create_service_user(servers[0])
    env = {
        "STATEWARD_AGENT__EXTERNAL_IDS": CAPACITY,
        "STATEWARD_AGENT__TRANSPORT": "http",
    }
    return [
        start_agent(servers, tmp_path, name, ip, env=env)
        for name, ip in (("cmp1", "198.18.7.1"), ("cmp2", "198.18.7.2"))
    ]


def _catalog_flow(servers: list[LiveServer], tmp_path: Path) -> None:
    agents = _agents(servers, tmp_path)
    try:
        first = OpenStackCLI(servers[0], tmp_path, cloud="first")
        second = OpenStackCLI(servers[-1], tmp_path, cloud="second")
        wait_for(
            lambda: (
                {s["Host"] for s in first.json("compute", "service", "list") if s["State"] == "up"}
                == {"cmp1", "cmp2"}
            ),
            60,
            "both chassis up",
        )
        # each chassis is a hypervisor with the address and capacity its agent reported
        nodes = {h["Hypervisor Hostname"]: h for h in second.json("hypervisor", "list", "--long")}
        assert (nodes["cmp1"]["Host IP"], nodes["cmp1"]["Memory MB"]) == ("198.18.7.1", 1536)
        # flavors: DevStack's set, and a new one with a property
        names = {f["Name"] for f in first.json("flavor", "list")}
        assert {"m1.tiny", "m1.small", "m1.xlarge", "m1.nano", "m1.micro"} <= names
        made = first.json(
            "flavor",
            "create",
            "--ram",
            "256",
            "--disk",
            "1",
            "--vcpus",
            "1",
            "--property",
            "hw:cpu_policy=shared",
            "c1.small",
        )
        assert (made["ram"], made["properties"]) == (256, {"hw:cpu_policy": "shared"})
        assert second.json("flavor", "show", "c1.small")["vcpus"] == 1
        # images: upload through one process, download through the other
        data = os.urandom(2 * 1024 * 1024 + 7)
        source = tmp_path / "cirros.img"
        source.write_bytes(data)
        image = first.json(
            "image",
            "create",
            "--file",
            str(source),
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "--public",
            "cirros",
        )
        assert (image["status"], image["size"]) == ("active", len(data))
        assert [i["Name"] for i in second.json("image", "list")] == ["cirros"]
        saved = tmp_path / "saved.img"
        second.run("image", "save", "--file", str(saved), "cirros")
        assert saved.read_bytes() == data
        shown = second.json("image", "show", "cirros")
        assert shown["properties"]["os_hash_algo"] == "sha512"
        # a network, and servers the scheduler places on the live chassis
        first.run("network", "create", "net1")
        second.run("subnet", "create", "--network", "net1", "--subnet-range", "10.77.0.0/24", "s1")
        vm1 = first.json(
            "server",
            "create",
            "--image",
            "cirros",
            "--flavor",
            "m1.tiny",
            "--network",
            "net1",
            "--wait",
            "vm1",
        )
        assert vm1["status"] == "ACTIVE"
        second.json(
            "server",
            "create",
            "--image",
            "cirros",
            "--flavor",
            "m1.tiny",
            "--network",
            "net1",
            "--wait",
            "vm2",
        )
        hosts = {s["Name"]: s["Host"] for s in first.json("server", "list", "--long")}
        assert sorted(hosts.values()) == ["cmp1", "cmp2"]  # spread: fewest servers first
        listed = {s["Name"]: s for s in second.json("server", "list")}
        assert listed["vm2"]["Networks"]["net1"][0].startswith("10.77.0.")
        assert listed["vm1"]["Image"] == "cirros" and listed["vm1"]["Flavor"] == "m1.tiny"
        # m1.medium (4 GB) fits no chassis: ERROR with Nova's fault
        big = first.run(
            "server",
            "create",
            "--image",
            "cirros",
            "--flavor",
            "m1.medium",
            "--network",
            "net1",
            "--wait",
            "big",
            check=False,
        )
        assert big.returncode != 0
        fault = first.json("server", "show", "big")["fault"]
        assert fault["message"].startswith("No valid host was found")
        first.run("server", "delete", "--wait", "big")
        # quotas: shown and set for both services by one command
        quota = {r["Resource"]: r["Limit"] for r in first.json("quota", "show")}
        assert (quota["instances"], quota["cores"], quota["networks"], quota["ports"]) == (
            10,
            20,
            100,
            500,
        )
        first.run("quota", "set", "--instances", "2", "--networks", "1", "admin")
        quota = {r["Resource"]: r["Limit"] for r in second.json("quota", "show", "admin")}
        assert (quota["instances"], quota["networks"]) == (2, 1)
        usage = {r["Resource"]: r for r in second.json("quota", "show", "--usage")}
        assert usage["instances"]["In Use"] == 2 and usage["ports"]["In Use"] == 2
        refused = second.run(
            "server",
            "create",
            "--image",
            "cirros",
            "--flavor",
            "m1.nano",
            "--network",
            "net1",
            "vm3",
            check=False,
        )
        assert refused.returncode != 0
        assert (
            "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
            in refused.stderr
        )
        assert "vm3" not in {s["Name"] for s in first.json("server", "list")}
        net_refused = first.run("network", "create", "net2", check=False)
        assert net_refused.returncode != 0 and "Quota exceeded" in net_refused.stderr
        nodes = {h["Hypervisor Hostname"]: h for h in first.json("hypervisor", "list", "--long")}
        assert sorted(n["Memory MB Used"] for n in nodes.values()) == [512, 512]
        # deleting a server deletes the port it made
        second.run("server", "delete", "--wait", "vm1")
        ports = first.json("port", "list", "--long")
        assert len(ports) == 1
    finally:
        for agent in agents:
            agent.stop()


def test_openstack_cli_catalog_on_sqlite(tmp_path: Path) -> None:
    with running_server(tmp_path, env=LIVENESS) as server:
        _catalog_flow([server], tmp_path)


@pytest.mark.postgres
@pytest.mark.nats
def test_openstack_cli_catalog_on_postgresql_nats_two_processes(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {
        **LIVENESS,
        "STATEWARD_BUS__STREAM": subject_prefix,
        "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix,
        # one image store both processes share (a shared filesystem in production)
        "STATEWARD_IMAGE__STORE_PATH": str(tmp_path / "image-store"),
    }
    first = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="s1", timeout=120)
    try:
        second = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="s2", timeout=120)
        try:
            _catalog_flow([first, second], tmp_path)
        finally:
            second.stop()
    finally:
        first.stop()


def test_openstack_cli_shares_an_image_with_another_project(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        admin = OpenStackCLI(server, tmp_path)
        admin.run("project", "create", "other")
        admin.run("user", "create", "--password", "bob-password-1", "--project", "other", "bob")
        admin.run("role", "add", "--user", "bob", "--project", "other", "member")
        data = tmp_path / "img"
        data.write_bytes(os.urandom(4096))
        image = admin.json(
            "image",
            "create",
            "--file",
            str(data),
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--shared",
            "cirros-shared",
        )
        admin.run("image", "add", "project", "cirros-shared", "other")
        bob = OpenStackCLI(
            server, tmp_path, username="bob", password="bob-password-1", project="other"
        )
        assert bob.json("image", "list") == []
        pending = bob.json("image", "list", "--member-status", "pending")
        assert [i["Name"] for i in pending] == ["cirros-shared"]
        bob.run("image", "set", "--accept", image["id"])
        assert [i["Name"] for i in bob.json("image", "list")] == ["cirros-shared"]
        saved = tmp_path / "saved"
        bob.run("image", "save", "--file", str(saved), image["id"])
        assert saved.read_bytes() == data.read_bytes()
        denied = bob.run("image", "delete", image["id"], check=False)
        assert denied.returncode != 0
