"""Where a host fault's CPU goes, per alarm: the fault chain in ONE process (the roles of
``stateward serve`` on SQLite and the in-process bus), the consumer in another, so the process's
CPU is the server's alone.

Each run registers ``--vms`` servers on a fresh host (directly in the store), one event alarm
per server through the API (webhook to the consumer), sends the monitor's raw failure and waits
until the notifier delivered every alarm. It prints the CPU per alarm (whole process, its main
thread, its other threads: aiosqlite's), the wall time to the last delivery, and with
``--py-spy FILE`` records the last run's fault window (summarised like ``stateward bench fault
--profile``). Run it against two checkouts, alternating, to compare them in the same period:

    PYTHONPATH=$PWD python -m bench.fault_cpu --vms 1000 --runs 2
    PYTHONPATH=$PWD python -m bench.fault_cpu --vms 1000 --runs 1 --py-spy /tmp/fault.txt
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.host_faults import populate
from stateward.bench.cpu import PySpy, summarise_profiles
from stateward.services.alarm_notifier import NOTIFICATIONS
from stateward.store.repositories.compute import ComputeRepository
from tests.support.inproc import Stack, stack


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process (``/proc/self/task/*/stat``)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[task] = (int(fields[11]) + int(fields[12])) / tick
    return out


def delivered() -> float:
    return NOTIFICATIONS.labels("http", "delivered")._value.get()


async def one_run(s: Stack, url: str, vms: int, spy_file: Path | None) -> None:
    headers = await s.headers()
    ctx = await s.runtime.identity.validate(await s.token())
    assert ctx.project_id is not None
    host = f"cpu-{uuid.uuid4().hex[:6]}"
    await populate(s, host, vms, ctx.project_id, ctx.user_id)
    async with s.runtime.store.uow(readonly=True) as uow:
        servers = await ComputeRepository(uow).list_servers(host=host)
    sem = asyncio.Semaphore(16)

    async def alarm(server_id: str) -> None:
        rule = {
            "event_type": "compute.instance.update",
            "query": [
                {"field": "traits.instance_id", "op": "eq", "value": server_id},
                {"field": "traits.state", "op": "eq", "value": "error"},
            ],
        }
        body = {"name": f"a-{server_id}", "type": "event", "event_rule": rule}
        async with sem:
            r = await s.client.post(
                "/v2/alarms", headers=headers, json={**body, "alarm_actions": [url]}
            )
            assert r.status_code == 201, r.text

    await asyncio.gather(*(alarm(sv.id) for sv in servers))
    await asyncio.sleep(0.5)
    spy = PySpy(os.getpid(), spy_file) if spy_file else None
    if spy is not None:
        await spy.start()
    before, threads, d0 = time.process_time(), thread_cpu(), delivered()
    started = time.perf_counter()
    failure = {"hostname": host, "status": "down", "monitor": "bench", "monitor_event_id": host}
    r = await s.client.put(
        "/v1/inspector/events",
        json=[{"time": "now", "type": "compute.host.down", "details": failure}],
        headers=headers,
    )
    assert r.status_code == 200, r.text
    while delivered() - d0 < vms:  # noqa: ASYNC110 - a counter in another role, polled
        await asyncio.sleep(0.01)
    wall = time.perf_counter() - started
    cpu, after = time.process_time() - before, thread_cpu()
    if spy is not None:
        await spy.stop()
    main = str(os.getpid())
    main_cpu = after.get(main, 0.0) - threads.get(main, 0.0)
    print(
        f"{vms} alarms: last delivered {wall * 1000:.0f} ms; "
        f"CPU per alarm {cpu / vms * 1000:.3f} ms "
        f"(main thread {main_cpu / vms * 1000:.3f}, other threads "
        f"{(cpu - main_cpu) / vms * 1000:.3f})",
        flush=True,
    )


ROOT = str(Path(__file__).resolve().parents[1])


async def main(args: argparse.Namespace) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=ROOT)
    consumer = subprocess.Popen(  # noqa: ASYNC220 - started, waited for at the end
        [sys.executable, "-m", "stateward", "consumer", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(2.0)
        with tempfile.TemporaryDirectory() as tmp:
            overrides = {"inspector.port_data_plane_down": False}
            async with stack(Path(tmp), f"sqlite:///{tmp}/cpu.db", **overrides) as s:
                for i in range(args.runs):
                    last = i == args.runs - 1
                    spy = Path(args.py_spy) if args.py_spy and last else None
                    await one_run(s, f"http://127.0.0.1:{port}/alarm", args.vms, spy)
        if args.py_spy:
            print(summarise_profiles([Path(args.py_spy)]))
    finally:
        consumer.terminate()
        consumer.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--py-spy", default=None, help="record the last run's fault window here")
    asyncio.run(main(parser.parse_args()))
