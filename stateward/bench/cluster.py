"""Real Stateward processes for benchmarks, demos and end-to-end tests.

``Cluster`` runs one or several ``python -m stateward serve`` processes on one store and one bus
(the embedded default: one process, SQLite + in-process bus; or PostgreSQL + NATS JetStream with
a fresh database and a private stream/subject prefix), ``Agent`` a ``stateward agent`` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ADMIN_PASSWORD = "stateward-bench-admin"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_NATS = "nats://127.0.0.1:4222"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])


async def create_pg_database(base_url: str) -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    import asyncpg

    name = f"sw_bench_{uuid.uuid4().hex[:10]}"
    dsn = base_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    head, _, name = url.rpartition("/")
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(f"{head}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def drop_nats_stream(url: str, stream: str) -> None:
    with contextlib.suppress(Exception):
        import nats

        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a child process writing stdout and stderr to ``log`` (appending)."""
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


@dataclass
class Process:
    name: str
    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Cluster:
    """``processes`` server processes on one store and bus."""

    backend: str = "embedded"  # or "pg-nats"
    processes: int = 1
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    pg: str = DEFAULT_PG
    nats: str = DEFAULT_NATS
    log_level: str = "INFO"
    servers: list[Process] = field(default_factory=list)
    base_env: dict[str, str] = field(default_factory=dict)
    db_url: str = ""
    stream: str = ""
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    _token: str | None = None
    _token_at: float = 0.0

    @property
    def label(self) -> str:
        if self.backend == "embedded":
            return "embedded (SQLite + in-process bus), 1 process"
        return f"PostgreSQL + NATS JetStream, {self.processes} processes"

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def url(self) -> str:
        return self.servers[0].url

    async def start(self, timeout: float = 60) -> None:
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="stateward-bench-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = _repo_root() + os.pathsep + env.get("PYTHONPATH", "")
        for key in list(env):
            if key.startswith("STATEWARD_") and key not in ("STATEWARD_STATE_DIR",):
                env.pop(key)
        env.update(
            {
                "STATEWARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "STATEWARD_LOGGING__FORMAT": "json",
                "STATEWARD_LOGGING__LEVEL": self.log_level,
                # the consumers of benchmarks, demos and tests listen on this host's loopback,
                # which the default destination policy refuses: opened explicitly
                "STATEWARD_ALARMS__ACTION_OPEN": '["127.0.0.0/8"]',
            }
        )
        if self.backend == "embedded":
            if self.processes != 1:
                raise ValueError("the embedded default is one process")
            self.db_url = f"sqlite:///{self.workdir / 'stateward.db'}"
        elif self.backend == "pg-nats":
            self.db_url = await create_pg_database(self.pg)
            self.stream = f"swb{uuid.uuid4().hex[:8]}"
            env.update(
                {
                    "STATEWARD_BUS__URL": self.nats,
                    "STATEWARD_BUS__STREAM": self.stream,
                    "STATEWARD_BUS__SUBJECT_PREFIX": self.stream,
                }
            )
        else:
            raise ValueError(f"unknown backend {self.backend!r}")
        env["STATEWARD_DATABASE__URL"] = self.db_url
        env.update(self.env)
        self.base_env = env
        for i in range(self.processes):
            port = free_port()
            state = self.workdir / f"server{i}-state"
            state.mkdir(exist_ok=True)
            log = self.workdir / f"server{i}.log"
            penv = dict(env, STATEWARD_STATE_DIR=str(state))
            args = [sys.executable, "-m", "stateward", "serve", "--port", str(port), "--migrate"]
            popen = spawn(args, penv, log)
            self.servers.append(Process(f"server{i}", f"http://127.0.0.1:{port}", popen, log))
            if i == 0:  # the first one migrates and bootstraps; the others start together
                await self._wait_healthy(self.servers[0], timeout)
        for server in self.servers[1:]:
            await self._wait_healthy(server, timeout)

    async def _wait_healthy(self, server: Process, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                if not server.alive():
                    raise RuntimeError(
                        f"{server.name} exited:\n{server.log.read_text(errors='replace')[-3000:]}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{server.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{server.name} did not become healthy")

    async def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.backend == "pg-nats":
            await drop_nats_stream(self.nats, self.stream)
            await drop_pg_database(self.db_url)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Cluster:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def token(self, client: httpx.AsyncClient | None = None) -> str:
        """An admin token (renewed every 30 minutes)."""
        if self._token and time.monotonic() - self._token_at < 1800:
            return self._token
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": "admin",
                            "domain": {"id": "default"},
                            "password": ADMIN_PASSWORD,
                        }
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        }
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.post(f"{self.url}/identity/v3/auth/tokens", json=body)
        r.raise_for_status()
        self._token = r.headers["X-Subject-Token"]
        self._token_at = time.monotonic()
        return self._token

    def cached_token(self) -> str | None:
        return self._token

    def start_agent(
        self, chassis: str, ip: str, *, extra_env: dict[str, str] | None = None
    ) -> Process:
        """A real ``stateward agent`` for ``chassis``, reporting to every server."""
        assert self.workdir is not None
        env = {
            k: v
            for k, v in self.base_env.items()
            if k not in ("STATEWARD_DATABASE__URL", "STATEWARD_ADMIN_PASSWORD")
        }
        env.update(
            {
                "STATEWARD_STATE_DIR": str(self.workdir / f"agent-{chassis}"),
                "STATEWARD_AGENT__USERNAME": "admin",
                "STATEWARD_AGENT__PASSWORD": ADMIN_PASSWORD,
                "STATEWARD_AGENT__PROJECT": "admin",
                "STATEWARD_LOGGING__LEVEL": "WARNING",
            }
        )
        env.update(extra_env or {})
        log = self.workdir / f"agent-{chassis}.log"
        args = [sys.executable, "-m", "stateward", "agent", "--chassis", chassis, "--local-ip", ip]
        for url in self.urls:
            args += ["--server", url]
        if self.backend == "pg-nats":
            args += ["--transport", "http"]
        popen = spawn(args, env, log)
        return Process(f"agent-{chassis}", "", popen, log)


def server_logs(cluster: Cluster) -> list[Path]:
    return [s.log for s in cluster.servers]


def describe(cluster: Cluster) -> dict[str, Any]:
    return {"backend": cluster.backend, "processes": cluster.processes, "label": cluster.label}
