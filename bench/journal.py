"""Journal sync throughput against the controller shim with a per-request latency.

Records a realistic journal (networks, subnets, ports, port updates, some deletes) through
the real network use cases and the journal's pre-commit hook, then replays the same rows
twice against ``stateward controller-shim --latency-ms L`` in one run:

- baseline: networking-odl's behaviour, one row at a time, the oldest pending row first;
- Stateward: the sync dispatcher (up to ``max_in_flight`` rows at the controller at once,
  independent objects concurrently, each object's rows in order).

Each run is checked: the shim ends equal to the store and its operation log shows no object
whose operations were applied out of order. Prints rows/s for both and the ratio.

    PYTHONPATH=. python bench/journal.py --ports 600 --latency-ms 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stateward.config import JournalConfig, NetworkConfig, to_async_url  # noqa: E402
from stateward.sdn.odl import OdlBackend  # noqa: E402
from stateward.services.journal import (  # noqa: E402
    ConnectionMonitor,
    InOrderSyncer,
    JournalRecorder,
    JournalSyncer,
    store_snapshot,
)
from stateward.services.network import NetworkService  # noqa: E402
from stateward.store.db import Store  # noqa: E402
from stateward.store.migrate import upgrade_async  # noqa: E402
from stateward.store.repositories.journal import JournalRepository  # noqa: E402
from stateward.store.tables.journal import journal  # noqa: E402
from stateward.testing.controller_shim import order_violations  # noqa: E402
from stateward.testing.emulator import compare  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_shim(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stateward",
            "controller-shim",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/shim/faults", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("shim did not start")


async def record_load(store: Store, networks: int, ports: int, updates: int) -> int:
    """Realistic rows through the real use cases: returns how many were journalled."""
    service = NetworkService(store, NetworkConfig())
    per_net = max(1, ports // networks)
    port_ids: list[str] = []
    for i in range(networks):
        net = await service.networks.create("bench", {"name": f"n{i}"})
        await service.subnets.create(
            "bench", {"network_id": net.id, "cidr": f"10.{i // 250}.{i % 250}.0/24"}
        )
        for p in range(per_net):
            port = await service.ports.create("bench", {"network_id": net.id, "name": f"p{p}"})
            port_ids.append(port.id)
    for round_ in range(updates):
        for port_id in port_ids:
            await service.ports.update(port_id, {"name": f"u{round_}"})
    for port_id in port_ids[::10]:
        await service.ports.delete(port_id)
    async with store.uow(readonly=True) as uow:
        return sum((await JournalRepository(uow).counts()).values())


async def reset(store: Store, shim: str) -> None:
    async with store.uow() as uow:
        await uow.conn.execute(
            sa.update(journal).values(state="pending", retry_count=0, last_retried=None)
        )
        await uow.commit()
    async with httpx.AsyncClient(timeout=10) as client:
        (await client.post(f"{shim}/shim/reset")).raise_for_status()


async def verify(store: Store, shim: str) -> dict[str, Any]:
    async with store.uow(readonly=True) as uow:
        ours = await store_snapshot(uow)
        counts = await JournalRepository(uow).counts()
    async with httpx.AsyncClient(timeout=30) as client:
        state = (await client.get(f"{shim}/shim/state")).json()
        log = (await client.get(f"{shim}/shim/log")).json()["log"]
    theirs = {k: {i["id"]: i for i in state[f"{k}s"]} for k in ("network", "subnet", "port")}
    diff = compare(ours, theirs)
    return {
        "completed": counts["completed"],
        "failed": counts["failed"],
        "mismatches": sum(len(v) for v in diff.values()),
        "order_violations": len(order_violations(log)),
    }


async def run_baseline(store: Store, backend: OdlBackend, rows: int) -> float:
    started = time.perf_counter()
    done = await InOrderSyncer(store, backend, retry_count=5).drain()
    elapsed = time.perf_counter() - started
    assert done == rows, (done, rows)
    return elapsed


async def run_stateward(
    store: Store, backend: OdlBackend, config: JournalConfig, rows: int
) -> float:
    monitor = ConnectionMonitor(backend, config)
    syncer = JournalSyncer(store, backend, monitor, config)
    started = time.perf_counter()
    await syncer.start()
    try:
        while True:
            async with store.uow(readonly=True) as uow:
                counts = await JournalRepository(uow).counts()
            if counts["completed"] + counts["failed"] >= rows:
                break
            await asyncio.sleep(0.01)
    finally:
        await syncer.stop()
    return time.perf_counter() - started


async def run_networking_odl(args: argparse.Namespace, shim: str) -> float:
    """networking-odl 22's journal in its own interpreter, same shim, same shape of work."""
    import json

    async with httpx.AsyncClient(timeout=10) as client:
        (await client.post(f"{shim}/shim/reset")).raise_for_status()
    script = Path(__file__).with_name("networking_odl_journal.py")
    out = await asyncio.to_thread(
        subprocess.run,
        [
            args.networking_odl,
            str(script),
            "--shim",
            shim,
            "--networks",
            str(args.networks),
            "--ports",
            str(args.ports),
            "--updates",
            str(args.updates),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    async with httpx.AsyncClient(timeout=30) as client:
        log = (await client.get(f"{shim}/shim/log")).json()["log"]
    applied = sum(1 for e in log if e["status"] < 300)
    rate = result["rows"] / result["seconds"]
    print(
        f"networking-odl 22: {result['rows']} rows in {result['seconds']:6.2f} s = "
        f"{rate:8.1f} rows/s | applied {applied} not completed {result['not_completed']} "
        f"out-of-order {len(order_violations(log))}"
    )
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", type=int, default=50)
    parser.add_argument("--ports", type=int, default=500, help="ports in all")
    parser.add_argument("--updates", type=int, default=1, help="updates per port")
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--db", default=None, help="database URL (default: temporary SQLite)")
    parser.add_argument(
        "--networking-odl",
        default=None,
        metavar="PYTHON",
        help="also run networking-odl 22's own journal with this interpreter (a separate venv "
        "with networking-odl installed; see bench/networking_odl_journal.py)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-journal-"))
    url = to_async_url(args.db or f"sqlite:///{tmp / 'bench.db'}")
    await upgrade_async(url)
    store = Store(url)
    store.add_pre_commit_hook(JournalRecorder())
    proc, shim = start_shim(args.latency_ms)
    config = JournalConfig(
        enabled=True,
        url=f"{shim}/controller/nb/v2/neutron",
        max_in_flight=args.max_in_flight,
        batch_size=args.batch_size,
    )
    backend = OdlBackend(config.url, "admin", "admin", max_connections=args.max_in_flight)
    try:
        rows = await record_load(store, args.networks, args.ports, args.updates)
        print(
            f"journal: {rows} rows ({args.networks} networks, {args.ports} ports, "
            f"{args.updates} update(s) per port, 10% deleted); controller latency "
            f"{args.latency_ms} ms/request; store {store.dialect}"
        )
        results = {}
        for name in ("baseline", "stateward"):
            await reset(store, shim)
            if name == "baseline":
                elapsed = await run_baseline(store, backend, rows)
            else:
                elapsed = await run_stateward(store, backend, config, rows)
            check = await verify(store, shim)
            results[name] = rows / elapsed
            print(
                f"{name:>10}: {rows} rows in {elapsed:6.2f} s = {rows / elapsed:8.1f} rows/s "
                f"| completed {check['completed']} failed {check['failed']} "
                f"mismatches {check['mismatches']} out-of-order {check['order_violations']}"
            )
            if check["mismatches"] or check["order_violations"] or check["failed"]:
                raise SystemExit(f"{name}: the controller does not match the store")
        if args.networking_odl:
            results["networking-odl"] = await run_networking_odl(args, shim)
        ratio = results["stateward"] / results["baseline"]
        print(f"ratio: {ratio:.1f}x the one-row-at-a-time in-order baseline (goal >= 5x)")
        if "networking-odl" in results:
            ratio = results["stateward"] / results["networking-odl"]
            print(f"ratio: {ratio:.1f}x networking-odl 22's own journal")
    finally:
        await backend.close()
        await store.close()
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
