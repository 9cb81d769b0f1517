"""A newcomer's first hour with ``stateward serve`` and ``db upgrade``: the admin's clouds.yaml
is written once and works; a stale STATEWARD_ADMIN_PASSWORD is named; a port in use is said in
one line before anything is created; ``db upgrade`` says what it did; a normal two-process start
logs no error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import REPO, free_port
from tests.support.server import VENV_BIN, running_server


def serve(state_dir: Path, port: int, **env: str) -> subprocess.Popen[str]:
    """``stateward serve`` as a user starts it; returns once it is healthy (or has exited)."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("STATEWARD_", "OS_"))}
    child.update(PYTHONPATH=str(REPO), STATEWARD_STATE_DIR=str(state_dir), **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stateward", "serve", "--port", str(port)],
        env=child,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen[str]) -> list[str]:
    """SIGINT (Ctrl-C), then the plain lines it wrote on stderr (logs are JSON lines)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return [line for line in err.splitlines() if line and not line.startswith("{")]


def openstack(clouds: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLOUD="stateward")
    return subprocess.run(
        [str(VENV_BIN / "openstack"), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.cli
def test_the_first_start_writes_a_working_clouds_yaml_and_says_how_to_use_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    port = free_port()
    proc = serve(state, port, STATEWARD_LOGGING__FORMAT="json")
    clouds = state / "clouds.yaml"
    result = openstack(clouds, "token", "issue", "-f", "value", "-c", "user_id")
    lines = stop(proc)
    expected = (
        f"Created user 'admin' (project 'admin'); its credentials are in {clouds}. "
        f"Use them with: export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=stateward"
    )
    assert lines == [expected]
    assert result.returncode == 0, result.stderr
    assert clouds.stat().st_mode & 0o777 == 0o600
    assert state.stat().st_mode & 0o777 == 0o700
    entry = yaml.safe_load(clouds.read_text())["clouds"]["stateward"]
    assert entry["auth"]["auth_url"] == f"http://127.0.0.1:{port}/identity"
    assert len(entry["auth"]["password"]) >= 20  # generated, never printed

    # A later start: the same credentials, said again; a stale password is named, not obeyed.
    proc = serve(state, port, STATEWARD_ADMIN_PASSWORD="another-password")
    again = openstack(clouds, "token", "issue", "-f", "value", "-c", "user_id")
    lines = stop(proc)
    assert again.returncode == 0 and again.stdout == result.stdout
    assert lines[0].startswith("warning: STATEWARD_ADMIN_PASSWORD does not match")
    assert "openstack user set --password-prompt admin" in lines[0]
    assert (
        lines[1] == f"Admin credentials: export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=stateward"
    )
    assert len(lines) == 2


def test_a_port_in_use_is_one_plain_line_and_nothing_is_created(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve(tmp_path / "state", port)
        code = proc.wait(timeout=60)
        lines = stop(proc)
    assert code == 1
    assert lines == [
        f"error: cannot listen on 127.0.0.1:{port}: address already in use "
        "(another server running? choose another port with --port)"
    ]
    assert not (tmp_path / "state" / "stateward.db").exists()


def test_db_upgrade_says_what_it_applied(tmp_path: Path, python_env: dict[str, str]) -> None:
    def upgrade() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "stateward", "db", "upgrade", "--state-dir", str(tmp_path)],
            env=python_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    first = upgrade()
    assert first.startswith("applied ") and "to an empty database" in first
    assert "0001_core" in first and "database is now at" in first
    assert upgrade().startswith("database is already up to date (")


@pytest.mark.postgres
@pytest.mark.nats
def test_a_normal_two_process_start_logs_no_error(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {"STATEWARD_BUS__STREAM": subject_prefix, "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix}
    with (
        running_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="a") as a,
        running_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="b") as b,
    ):
        time.sleep(12)  # more than two idle pulls of every durable queue (5 s each)
        for server in (a, b):
            bad = [r for r in server.log_records() if r.get("level") in ("error", "critical")]
            assert not bad, bad
