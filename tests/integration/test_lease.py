"""Singleton roles across real OS processes on PostgreSQL: one leader, replaced when it dies."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from stateward.config import to_async_url
from stateward.services.leases import SingletonRole
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async

TTL = 1.0
RENEW = 0.3
MARGIN = 1.5  # process scheduling and database round trips on a busy CI machine

ROLE_PROCESS = f"""
import asyncio, os, sys
from stateward.config import to_async_url
from stateward.services.leases import SingletonRole
from stateward.store.db import Store

async def main(url, holder):
    store = Store(to_async_url(url))

    async def body():
        print(f"LEADER {{os.getpid()}} {{role.generation}}", flush=True)
        await asyncio.Event().wait()

    role = SingletonRole(store, "watcher", holder, body, ttl={TTL}, renew_interval={RENEW})
    await role.start()
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


class Leaders:
    """Reads "LEADER <pid> <generation>" lines from every role process as they come."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[tuple[int, int, float]] = asyncio.Queue()

    async def read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            word, pid, generation = raw.decode().split()
            assert word == "LEADER"
            self.lines.put_nowait((int(pid), int(generation), time.monotonic()))

    async def next(self, timeout: float) -> tuple[int, int, float]:
        return await asyncio.wait_for(self.lines.get(), timeout)


@pytest.fixture
async def role_processes(
    pg_url: str, python_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[dict[int, asyncio.subprocess.Process], Leaders]]:
    await upgrade_async(to_async_url(pg_url))
    leaders = Leaders()
    procs: dict[int, asyncio.subprocess.Process] = {}
    readers = []
    for n in range(2):
        with (tmp_path / f"role-{n}.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", ROLE_PROCESS, pg_url, f"process-{n}",
                env=python_env, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        procs[proc.pid] = proc
        readers.append(asyncio.create_task(leaders.read(proc)))
    try:
        yield procs, leaders
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        await asyncio.gather(*readers, return_exceptions=True)


async def test_one_leader_and_a_new_one_within_ttl_after_it_is_killed(
    role_processes: tuple[dict[int, asyncio.subprocess.Process], Leaders],
) -> None:
    procs, leaders = role_processes
    leader, generation, _ = await leaders.next(timeout=15)  # both start and race
    assert leader in procs
    with pytest.raises(TimeoutError):
        await leaders.next(timeout=3 * TTL)  # the other never takes it while the leader lives

    procs[leader].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    successor, new_generation, took_over_at = await leaders.next(timeout=TTL + RENEW + MARGIN)
    assert successor != leader and successor in procs
    assert took_over_at - killed_at <= TTL + RENEW + MARGIN
    assert new_generation > generation


class Partition:
    """A TCP relay to PostgreSQL that can black-hole traffic, as a network partition does.

    The connections stay open and nothing errors: the holder's renewal just never returns.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.partitioned = False
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not self.partitioned:
                writer.write(data)
                await writer.drain()
        writer.close()

    async def close(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()


async def test_holder_cut_off_from_the_database_stops_before_another_takes_over(
    pg_url: str,
) -> None:
    url = make_url(to_async_url(pg_url))
    await upgrade_async(url.render_as_string(hide_password=False))
    partition = Partition(url.host or "127.0.0.1", url.port or 5432)
    relayed_url = url.set(port=await partition.start()).render_as_string(hide_password=False)
    stores = [Store(relayed_url), Store(url.render_as_string(hide_password=False))]
    running: dict[str, tuple[float, float | None]] = {}

    def body_of(name: str) -> Callable[[], Awaitable[None]]:
        async def body() -> None:
            running[name] = (time.monotonic(), None)
            try:
                await asyncio.Event().wait()
            finally:
                running[name] = (running[name][0], time.monotonic())

        return body

    a = SingletonRole(stores[0], "watcher", "A", body_of("A"), ttl=TTL, renew_interval=RENEW)
    b = SingletonRole(stores[1], "watcher", "B", body_of("B"), ttl=TTL, renew_interval=RENEW)
    try:
        await a.start()
        await asyncio.wait_for(a.acquired.wait(), timeout=5)
        await b.start()
        partition.partitioned = True
        cut_at = time.monotonic()
        await asyncio.wait_for(b.acquired.wait(), timeout=TTL + RENEW + MARGIN)
        b_started, _ = running["B"]
        _, a_stopped = running["A"]
        assert a_stopped is not None, "the cut-off holder is still running its role"
        assert a_stopped <= b_started, "two leaders at once"
        assert a_stopped - cut_at < TTL
    finally:
        await partition.close()
        for role in (a, b):
            await asyncio.wait_for(role.stop(), timeout=10)
        for store in stores:
            await store.close()
