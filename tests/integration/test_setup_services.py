"""``scripts/setup-services`` on a machine where the services are absent: it creates, configures
and starts a PostgreSQL cluster and a NATS JetStream server (here a private pair on other
ports, removed afterwards), and a second run uses them as they are. The package step is checked
as on a bare machine (an empty dpkg database) without installing anything."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from tests.conftest import REPO, free_port, require

SCRIPT = REPO / "scripts" / "setup-services"


def pg_version() -> str:
    return sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v.split(".")[0]))[-1]


@pytest.fixture
def private_services(tmp_path: Path) -> Iterator[dict[str, str]]:
    require(os.geteuid() == 0, "root (to create a PostgreSQL cluster)")
    require(shutil.which("pg_createcluster") is not None, "Debian's postgresql-common")
    require(shutil.which("nats-server") is not None, "nats-server")
    cluster = f"sw{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "SW_PACKAGES": "0",
        "SW_PG_PORT": str(free_port()),
        "SW_PG_CLUSTER": cluster,
        "SW_NATS_PORT": str(free_port()),
        "SW_NATS_DIR": str(tmp_path / "nats"),
        "SW_NATS_LOG": str(tmp_path / "nats.log"),
    }
    yield env
    subprocess.run(
        ["pg_dropcluster", "--stop", pg_version(), cluster], capture_output=True, timeout=120
    )
    pidfile = tmp_path / "nats" / "nats-server.pid"
    if pidfile.is_file():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def setup(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_absent_services_are_created_started_and_then_reused(
    private_services: dict[str, str],
) -> None:
    env = private_services
    first = setup(env)
    assert f"creating PostgreSQL cluster {pg_version()}/{env['SW_PG_CLUSTER']}" in first
    assert "creating database test" in first
    assert f"starting NATS JetStream on 127.0.0.1:{env['SW_NATS_PORT']}" in first

    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{env['SW_PG_PORT']}/test")
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
    nc = await nats.connect(f"nats://127.0.0.1:{env['SW_NATS_PORT']}")
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None  # JetStream is on
    finally:
        await nc.close()

    second = setup(env)
    assert "answers (trust, database test): used as it is" in second
    assert "NATS on 127.0.0.1:" in second and "used as it is" in second
    assert "creating" not in second and "starting" not in second


def test_on_a_bare_machine_every_package_would_be_installed(tmp_path: Path) -> None:
    empty = tmp_path / "dpkg"
    (empty / "info").mkdir(parents=True)
    (empty / "status").write_text("")
    env = {**os.environ, "SW_DPKG_ADMINDIR": str(empty)}
    out = setup(env, "--dry-run")
    assert "would install: postgresql nats-server openvswitch-switch keepalived" in out
    assert "chromium chromium-driver haproxy" in out
