"""Run real ``stateward serve`` processes for tests, and drive them with the real clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, free_port

ADMIN_PASSWORD = "admin-test-password"
VENV_BIN = Path(sys.executable).parent


@dataclass
class LiveServer:
    """One server process. ``url`` is its base; ``log`` its JSON log file."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    state_dir: Path
    extra_args: list[str] = field(default_factory=list)

    def token(
        self, username: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin"
    ) -> str:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": username,
                            "domain": {"id": "default"},
                            "password": password,
                        }
                    },
                },
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }
        }
        response = httpx.post(f"{self.url}/identity/v3/auth/tokens", json=body, timeout=10)
        response.raise_for_status()
        return response.headers["X-Subject-Token"]

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        all_headers = dict(headers)
        if token:
            all_headers["X-Auth-Token"] = token
        return httpx.Client(base_url=self.url, headers=all_headers, timeout=15)

    def stateward(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a ``stateward`` command as the admin, against this server's API."""
        env = {k: v for k, v in self.env.items() if not k.startswith("OS_")}
        env.update(
            STATEWARD_URL=self.url,
            STATEWARD_USERNAME="admin",
            STATEWARD_PASSWORD=ADMIN_PASSWORD,
            STATEWARD_PROJECT="admin",
        )
        return subprocess.run(
            [sys.executable, "-m", "stateward", *args],
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with suppress(ValueError):
                    records.append(json.loads(line))
        return records


LOOPBACK_OPEN = '["127.0.0.0/8"]'


def start_server(
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    db: str | None = None,
    bus: str | None = None,
    extra_args: list[str] | None = None,
    name: str = "server",
    timeout: float = 30.0,
    port: int | None = None,
) -> LiveServer:
    port = port or free_port()
    state_dir = tmp_path / f"{name}-state"
    state_dir.mkdir(parents=True, exist_ok=True)
    log = tmp_path / f"{name}.log"
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = str(REPO) + os.pathsep + child_env.get("PYTHONPATH", "")
    child_env.update(
        {
            "STATEWARD_STATE_DIR": str(state_dir),
            "STATEWARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "STATEWARD_LOGGING__FORMAT": "json",
            # the tests' webhook receivers listen on loopback, which the default policy refuses
            "STATEWARD_ALARMS__ACTION_OPEN": LOOPBACK_OPEN,
        }
    )
    if db:
        child_env["STATEWARD_DATABASE__URL"] = db
    if bus:
        child_env["STATEWARD_BUS__URL"] = bus
    child_env.update(env or {})
    args = [sys.executable, "-m", "stateward", "serve", "--port", str(port), *(extra_args or [])]
    process = subprocess.Popen(args, env=child_env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = LiveServer(
        f"http://127.0.0.1:{port}", port, process, log, child_env, state_dir, extra_args or []
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"server did not become healthy:\n{log.read_text()}")


@contextmanager
def running_server(tmp_path: Path, **kwargs: Any) -> Iterator[LiveServer]:
    server = start_server(tmp_path, **kwargs)
    try:
        yield server
    finally:
        server.stop()


class OpenStackCLI:
    """The real ``openstack`` command, configured through a clouds.yaml we write."""

    def __init__(
        self,
        server: LiveServer,
        tmp_path: Path,
        *,
        username: str = "admin",
        password: str = ADMIN_PASSWORD,
        project: str = "admin",
        cloud: str = "stateward",
    ) -> None:
        self.cloud = cloud
        self.config_dir = tmp_path / f"os-{cloud}-{username}-{project}"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        clouds = {
            "clouds": {
                cloud: {
                    "auth_type": "password",
                    "identity_api_version": 3,
                    "region_name": "RegionOne",
                    "auth": {
                        "auth_url": f"{server.url}/identity",
                        "username": username,
                        "password": password,
                        "project_name": project,
                        "user_domain_name": "Default",
                        "project_domain_name": "Default",
                    },
                }
            }
        }
        (self.config_dir / "clouds.yaml").write_text(json.dumps(clouds))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["OS_CLIENT_CONFIG_FILE"] = str(self.config_dir / "clouds.yaml")
        self.env["OS_CLOUD"] = cloud

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(VENV_BIN / "openstack"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"openstack {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)
