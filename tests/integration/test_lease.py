"""Singleton roles across real OS processes on PostgreSQL: one leader, replaced when it dies."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stateward.config import to_async_url
from stateward.store.migrate import upgrade_async

TTL = 1.0
RENEW = 0.3
MARGIN = 1.5  # process scheduling and database round trips on a busy CI machine

ROLE_PROCESS = f"""
import asyncio, os, sys
from stateward.config import to_async_url

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

