"""OPNFV Doctor's fault-management test, Doctor's own code unchanged, against a live Stateward.

Everything runs inside a network namespace this test makes (so Doctor's raw-socket pinger hears
only its own ICMP, and its consumer's fixed-style port binds nowhere else): ``stateward serve``
(embedded default), two ``stateward agent`` chassis whose addresses live in two more namespaces
behind veth pairs, and ``tests/e2e/doctor/driver.py`` in Doctor's own environment
(``requirements.txt``). The driver runs Doctor's setup helpers — ``Image`` with a local image
file, ``User``, and through ``FaultManagement.setup`` the quota update, ``Network``,
``Instance`` (10 VMs placed by the scheduler) and ``Alarm`` — then Doctor's sample monitor and
consumer with Stateward's inspector through one host's link going down, and finally Doctor's
own ``check_host_status('down')`` and ``check_notification_time()``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, require
from tests.support.doctor import doctor_dir, doctor_venv
from tests.support.server import ADMIN_PASSWORD

VMS = 10
DRIVER = REPO / "tests" / "e2e" / "doctor" / "driver.py"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


@dataclass
class Lab:
    """A namespace holding the cloud, and one namespace per compute host's address."""

    ns: str
    hosts: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name -> ns, dev, ip
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *argv: str, env: dict[str, str], log: Path, cwd: Path | None = None) -> Any:
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
            )
        self.processes.append(process)
        return process


@pytest.fixture
def lab() -> Iterator[Lab]:
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "root and iproute2")
    suffix = uuid.uuid4().hex[:6]
    lab = Lab(f"swd-{suffix}")
    created = [lab.ns]
    _ip("netns", "add", lab.ns)
    try:
        _ip("-n", lab.ns, "link", "set", "lo", "up")
        for i, name in enumerate(("cmp-a", "cmp-b"), start=1):
            ns, inside, outside = f"swd-{suffix}-{i}", f"swd{suffix}h{i}", f"swd{suffix}c{i}"
            _ip("netns", "add", ns)
            created.append(ns)
            _ip("-n", lab.ns, "link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("-n", lab.ns, "link", "set", inside, "netns", ns)
            _ip("-n", lab.ns, "addr", "add", f"10.253.{i}.1/30", "dev", outside)
            _ip("-n", lab.ns, "link", "set", outside, "up")
            _ip("-n", ns, "addr", "add", f"10.253.{i}.2/30", "dev", inside)
            _ip("-n", ns, "link", "set", inside, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            lab.hosts[name] = (ns, inside, f"10.253.{i}.2")
        yield lab
    finally:
        for process in reversed(lab.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for ns in reversed(created):
            _ip("netns", "del", ns, check=False)


def _in_ns_json(lab: Lab, env: dict[str, str], code: str) -> Any:
    out = subprocess.run(
        ["ip", "netns", "exec", lab.ns, sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else None


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


CHASSIS = """
import httpx, json
url = {url!r}
body = {{"auth": {{"identity": {{"methods": ["password"], "password": {{"user": {{
    "name": "admin", "domain": {{"id": "default"}}, "password": {password!r}}}}}}},
    "scope": {{"project": {{"name": "admin", "domain": {{"id": "default"}}}}}}}}}}
token = httpx.post(url + "/identity/v3/auth/tokens", json=body).headers["X-Subject-Token"]
chassis = httpx.get(url + "/v1/chassis", headers={{"X-Auth-Token": token}}).json()["chassis"]
print(json.dumps({{c["name"]: c["status"] for c in chassis}}))
"""


def test_doctor_fault_management_passes_its_own_checks_at_10_vms(tmp_path: Path, lab: Lab) -> None:
    doctor = doctor_dir()
    require(doctor is not None, "OPNFV Doctor's code (shared/peers/opnfv-doctor)")
    assert doctor is not None
    python = doctor_venv(doctor)

    port = 9696
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "STATEWARD_STATE_DIR": str(tmp_path / "server-state"),
            "STATEWARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "STATEWARD_LOGGING__FORMAT": "json",
            "STATEWARD_LIVENESS__REPORT_INTERVAL": "1",
            "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "10",
            # the consumer listens on loopback in the lab: let alarm webhooks reach it
            "STATEWARD_ALARMS__ACTION_ALLOW": '["127.0.0.1"]',
        }
    )
    server = lab.run(
        sys.executable,
        "-m",
        "stateward",
        "serve",
        "--port",
        str(port),
        env=env,
        log=tmp_path / "server.log",
    )
    probe = f"import httpx; print(httpx.get({url + '/healthz'!r}).status_code == 200 and 'true')"
    _wait(lambda: server.poll() is None and _in_ns_json(lab, env, probe), 60, "the server")
    agent_env = {k: v for k, v in env.items() if k not in ("STATEWARD_ADMIN_PASSWORD",)}
    for name, (_ns, _dev, ip) in lab.hosts.items():
        agent_env_one = dict(
            agent_env,
            STATEWARD_STATE_DIR=str(tmp_path / f"agent-{name}"),
            STATEWARD_AGENT__USERNAME="admin",
            STATEWARD_AGENT__PASSWORD=ADMIN_PASSWORD,
            STATEWARD_AGENT__PROJECT="admin",
            STATEWARD_AGENT__TRANSPORT="http",
        )
        lab.run(
            sys.executable,
            "-m",
            "stateward",
            "agent",
            "--chassis",
            name,
            "--local-ip",
            ip,
            "--server",
            url,
            env=agent_env_one,
            log=tmp_path / f"agent-{name}.log",
        )
    chassis = CHASSIS.format(url=url, password=ADMIN_PASSWORD)
    _wait(
        lambda: _in_ns_json(lab, env, chassis) == {"cmp-a": "active", "cmp-b": "active"},
        60,
        "both chassis",
    )

    # Doctor's environment: the cloud's admin, 10 VMs, a local image file, no SSH profiler
    workdir = tmp_path / "doctor"
    workdir.mkdir()
    (workdir / "cirros.img").write_bytes(os.urandom(3 * 1024 * 1024))
    doctor_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(doctor),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OS_AUTH_URL": f"{url}/identity/v3",
        "OS_USERNAME": "admin",
        "OS_PASSWORD": ADMIN_PASSWORD,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "VM_COUNT": str(VMS),
        "INSPECTOR_TYPE": "sample",
        "PROFILER_TYPE": "",
        "DOCTOR_CONSUMER_PORT": "12346",
        "STATEWARD_INSPECTOR_URL": f"{url}/v1/inspector/events",
        "DOCTOR_HOST_LINKS": json.dumps({n: [ns, dev] for n, (ns, dev, _ip) in lab.hosts.items()}),
    }
    driver = lab.run(
        str(python), str(DRIVER), env=doctor_env, log=tmp_path / "driver.out", cwd=workdir
    )
    try:
        driver.wait(timeout=600)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.wait()
    output = (tmp_path / "driver.out").read_text(errors="replace")
    lines = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    results = [x["result"] for x in lines if "result" in x]
    assert results, output[-6000:]
    result = results[-1]
    assert result["passed"], result.get("traceback") or output[-6000:]
    assert driver.returncode == 0, output[-6000:]
    # Doctor's own checks passed: host forced down, consumer notified < 1 s after detection
    assert result["host_status"] == "down"
    assert 0 < result["notification_time"] < 1
    assert result["vms"] == VMS
    # every VM on the failed host raised its alarm, and the scheduler spread the 10 VMs
    assert len(result["alarms"]) == result["vms_on_host"] > 0
    assert result["vms_on_host"] < VMS
    setup = next(x for x in lines if x.get("step") == "setup")
    assert setup["ip"] == lab.hosts[setup["host"]][2]
    assert result["cleanup"] == []
    print(json.dumps({k: result[k] for k in ("notification_time", "vms_on_host", "host")}))
