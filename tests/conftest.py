"""Shared fixtures. Real services only: PostgreSQL and NATS on loopback, no mocks.

A test that needs a service which is not running is skipped on a developer's machine and
FAILS under CI (``CI=true``), so a missing service is never silently untested.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("STATEWARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("STATEWARD_TEST_NATS", "nats://127.0.0.1:4222")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, what: str) -> None:
    """Skip locally, fail loudly in CI, when a real service the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI but is not available", pytrace=False)
    pytest.skip(f"{what} not available (set CI=true to make this a failure)")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def nats_url() -> str:
    require(port_open("127.0.0.1", 4222), "NATS JetStream on 127.0.0.1:4222")
    return NATS_URL


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    import asyncpg

    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'stateward.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a store test on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stateward.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def subject_prefix() -> str:
    """A bus subject prefix and stream name private to one test."""
    return f"swt{uuid.uuid4().hex[:10]}"


@pytest.fixture
def python_env() -> Iterator[dict[str, str]]:
    """Environment for child processes running this checkout's code (``python -m stateward``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("STATEWARD_LOGGING__FORMAT", "json")
    yield env
