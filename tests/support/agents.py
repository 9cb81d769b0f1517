"""Run real ``stateward agent`` processes against a live server, and read what it announced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.server import LiveServer

# Short enough for tests, long enough (six reports per window) that a busy 2-core CI machine
# does not miss a whole window of heartbeats and declare a live chassis down.
FAST_LIVENESS = {
    "STATEWARD_LIVENESS__REPORT_INTERVAL": "0.25",
    "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "1.5",
}


@dataclass
class AgentProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def create_service_user(server: LiveServer, name: str = "agent", password: str = "pw-test") -> None:
    """The agents' identity: a user with role 'service' on project 'service'."""
    server.stateward("project", "create", "service")
    server.stateward(
        "user", "create", name, "--password", password, "--project", "service", "--role", "service"
    )


def start_agent(
    server: LiveServer | list[LiveServer],
    tmp_path: Path,
    chassis: str,
    ip: str,
    *,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    username: str = "agent",
    password: str = "pw-test",
) -> AgentProcess:
    servers = server if isinstance(server, list) else [server]
    child_env = dict(servers[0].env)
    for key in ("STATEWARD_ADMIN_PASSWORD", "STATEWARD_DATABASE__URL"):
        child_env.pop(key, None)
    child_env["STATEWARD_STATE_DIR"] = str(tmp_path / f"agent-{chassis}")
    child_env["STATEWARD_AGENT__USERNAME"] = username
    child_env["STATEWARD_AGENT__PASSWORD"] = password
    child_env.update(env or {})
    log = tmp_path / f"agent-{chassis}.log"
    command = [sys.executable, "-m", "stateward", "agent", "--chassis", chassis, "--local-ip", ip]
    for s in servers:
        command += ["--server", s.url]
    process = subprocess.Popen(
        [*command, *(args or [])],
        env=child_env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return AgentProcess(chassis, process, log)


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def chassis_status(server: LiveServer, token: str) -> dict[str, dict[str, Any]]:
    with server.client(token) as client:
        response = client.get("/v1/chassis")
        response.raise_for_status()
        return {c["name"]: c for c in response.json()["chassis"]}


def pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
