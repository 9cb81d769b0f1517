"""Run the controller shim (``stateward controller-shim``) as a real process for tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, free_port


@dataclass
class Shim:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    persist: Path | None
    latency_ms: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def northbound(self) -> str:
        return f"{self.url}/controller/nb/v2/neutron"

    def journal_env(self, **extra: str) -> dict[str, str]:
        env = {
            "STATEWARD_JOURNAL__ENABLED": "true",
            "STATEWARD_JOURNAL__URL": self.northbound,
            "STATEWARD_JOURNAL__USERNAME": "admin",
            "STATEWARD_JOURNAL__PASSWORD": "admin",
        }
        env.update(extra)
        return env

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = self.admin("GET", "/shim/state")
        return result

    def oplog(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.admin("GET", "/shim/log")["log"]
        return result

    def faults(self, **body: Any) -> Any:
        return self.admin("POST", "/shim/faults", body)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_shim(
    tmp_path: Path,
    *,
    port: int | None = None,
    persist: bool = False,
    latency_ms: float = 0.0,
    name: str = "shim",
    python_env: dict[str, str] | None = None,
    password: str = "admin",
) -> Shim:
    import os

    port = port or free_port()
    log = tmp_path / f"{name}.log"
    persist_file = tmp_path / f"{name}.json" if persist else None
    env = dict(python_env or os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", "stateward", "controller-shim", "--port", str(port)]
    if persist_file:
        args += ["--persist", str(persist_file)]
    if latency_ms:
        args += ["--latency-ms", str(latency_ms)]
    if password != "admin":
        args += ["--password", password]
    with log.open("ab") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    shim = Shim(port, process, log, persist_file, latency_ms)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shim exited:\n{log.read_text()}")
        try:
            httpx.get(f"{shim.url}/shim/faults", timeout=1).raise_for_status()
            return shim
        except httpx.HTTPError:
            time.sleep(0.1)
    shim.stop(signal.SIGKILL)
    raise RuntimeError(f"shim did not start:\n{log.read_text()}")


def restart_shim(tmp_path: Path, old: Shim, name: str = "shim") -> Shim:
    return start_shim(
        tmp_path,
        port=old.port,
        persist=old.persist is not None,
        latency_ms=old.latency_ms,
        name=name,
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value or raises with the last one."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s (last value: {value!r})")
