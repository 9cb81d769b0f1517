"""NATS fixtures: buses on a stream and subject prefix private to one test, a private server."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from stateward.bus.nats import NatsBus
from stateward.config import BusConfig
from tests.conftest import free_port, require


@pytest.fixture
def nats_config(nats_url: str, subject_prefix: str) -> BusConfig:
    return BusConfig(url=nats_url, stream=subject_prefix, subject_prefix=subject_prefix)


@pytest.fixture
async def make_nats_bus(nats_config: BusConfig) -> AsyncIterator[Callable[[], Awaitable[NatsBus]]]:
    """Starts NatsBus instances (each a "process"); closes them and deletes the stream after."""
    started: list[NatsBus] = []

    async def make() -> NatsBus:
        bus = NatsBus(nats_config, name=f"test-{len(started)}")
        await bus.start()
        started.append(bus)
        return bus

    yield make
    for bus in started:
        await bus.close()
    nc = await nats.connect(nats_config.url)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(nats_config.stream)
    finally:
        await nc.close()


class NatsServer:
    """A private nats-server this test may stop and restart (same port, same storage)."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.store_dir = store_dir
        self.proc: asyncio.subprocess.Process | None = None
        self._log: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port),
            "-sd", str(self.store_dir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stderr is not None
        async with asyncio.timeout(10):
            async for line in self.proc.stderr:
                if b"Server is ready" in line:
                    break
        self._log = asyncio.create_task(self._drain(self.proc.stderr))

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        async for _ in stream:
            pass

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._log is not None:
            await self._log


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    require(shutil.which("nats-server") is not None, "the nats-server binary")
    server = NatsServer(tmp_path / "jetstream")
    await server.start()
    yield server
    await server.stop()
