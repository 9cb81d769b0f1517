"""``stateward monitor ping`` against a host inside a network namespace this test makes: take
the link down and the host is forced down with its servers in the fault state."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support.hosts import add_chassis_async, server_db_url
from tests.support.server import running_server


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


@pytest.fixture
def namespaced_host() -> Iterator[dict[str, str]]:
    """A namespace with one veth end at 10.254.N.2/30; the other end 10.254.N.1 stays here."""
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "root and iproute2")
    suffix = uuid.uuid4().hex[:6]
    ns, outside, inside = f"swc-{suffix}", f"swc{suffix}a", f"swc{suffix}b"
    used = _ip("-4", "addr", "show").stdout
    subnet = next(n for n in random.sample(range(1, 255), 254) if f"10.254.{n}." not in used)
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("addr", "add", f"10.254.{subnet}.1/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("-n", ns, "addr", "add", f"10.254.{subnet}.2/30", "dev", inside)
        _ip("-n", ns, "link", "set", inside, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        yield {"ns": ns, "link": outside, "ip": f"10.254.{subnet}.2"}
    finally:
        _ip("link", "del", outside, check=False)
        _ip("netns", "del", ns, check=False)


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_monitor_ping_reports_a_host_whose_link_went_down(
    tmp_path: Path, namespaced_host: dict[str, str]
) -> None:
    import asyncio

    env = {"STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "3600"}
    with running_server(tmp_path, env=env) as server:
        asyncio.run(add_chassis_async(server_db_url(server), [("nshost", namespaced_host["ip"])]))
        token = server.token()
        with server.client(token, **{"OpenStack-API-Version": "compute 2.74"}) as c:
            ids = []
            for i in range(3):
                r = c.post(
                    "/compute/v2.1/servers",
                    json={
                        "server": {
                            "name": f"vm{i}",
                            "flavorRef": "1",
                            "host": "nshost",
                        }
                    },
                )
                assert r.status_code == 202, r.text
                ids.append(r.json()["server"]["id"])
        out = (tmp_path / "monitor.out").open("w+")
        monitor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stateward",
                "monitor",
                "ping",
                "--host",
                f"nshost={namespaced_host['ip']}",
                "--interval",
                "0.1",
                "--server",
                server.url,
                "--username",
                "admin",
                "--password",
                server.env["STATEWARD_ADMIN_PASSWORD"],
                "--project",
                "admin",
            ],
            env=server.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:

            def lines() -> list[dict[str, object]]:
                text = (tmp_path / "monitor.out").read_text()
                return [json.loads(x) for x in text.splitlines() if x.startswith("{")]

            _wait(
                lambda: any(x.get("state") == "answering" for x in lines()),
                30,
                "the monitor to see the host answer",
            )
            with server.client(token, **{"OpenStack-API-Version": "compute 2.53"}) as c:
                [svc] = c.get("/compute/v2.1/os-services?host=nshost").json()["services"]
                assert svc["forced_down"] is False
                time.sleep(0.5)  # the host keeps answering: nothing is reported
                assert not any(x.get("state") == "down" for x in lines())

                _ip("link", "set", namespaced_host["link"], "down")

                def forced() -> bool:
                    services = c.get("/compute/v2.1/os-services?host=nshost").json()["services"]
                    return bool(services[0]["forced_down"])

                _wait(forced, 30, "the host to be forced down")
                views = c.get(
                    "/compute/v2.1/servers/detail?all_tenants=True&host=nshost",
                    headers={"OpenStack-API-Version": "compute 2.75"},
                ).json()["servers"]
                assert sorted(v["id"] for v in views) == sorted(ids)
                for v in views:
                    assert v["OS-EXT-STS:vm_state"] == "error"
                    assert v["host_status"] == "DOWN"
            [down] = [x for x in lines() if x.get("state") == "down"]
            event = down["event"]
            assert event["type"] == "compute.host.down"  # type: ignore[index]

            # The link comes back: the monitor reports up, which is recorded, not acted on.
            _ip("link", "set", namespaced_host["link"], "up")
            _wait(lambda: any(x.get("state") == "up" for x in lines()), 30, "host up")
            shown = server.stateward(
                "host", "show", "nshost", "-f", "json", "--server", server.url, "--token", token
            )
            host = json.loads(shown.stdout)

            def history() -> list[tuple[str, str]]:
                result = server.stateward(
                    "host", "show", "nshost", "-f", "json", "--server", server.url, "--token", token
                )
                faults = json.loads(result.stdout)["faults"]
                return [(f["type"], f["outcome"]) for f in faults]

            assert _wait(lambda: len(history()) == 2 and history(), 30, "host up recorded") == [
                ("compute.host.up", "recorded"),
                ("compute.host.down", "host_down"),
            ]
            assert host["forced_down"] is True
            with server.client(token, **{"OpenStack-API-Version": "compute 2.53"}) as c:
                [svc] = c.get("/compute/v2.1/os-services?host=nshost").json()["services"]
                assert svc["forced_down"] is True
        finally:
            monitor.send_signal(signal.SIGTERM)
            try:
                monitor.wait(timeout=10)
            except subprocess.TimeoutExpired:
                monitor.kill()
                monitor.wait()
            out.close()
        assert monitor.returncode == 0, (tmp_path / "monitor.out").read_text()
