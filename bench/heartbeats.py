"""Heartbeat absorption and chassis.down lateness (seed 000; BRIEF "What fast means here").

Three measurements, each next to its baseline from the same run:

1. NATS path: a producer process floods ``liveness.heartbeat`` signals for N simulated chassis;
   this process absorbs them with the real ``HeartbeatAbsorber`` (batched executemany UPDATE,
   one transaction per batch). Baseline: the same signals handled with one UPDATE transaction per
   heartbeat (what Nova's and Neutron's report_state do).
2. HTTP path: a real ``stateward serve`` process; concurrent ``POST /v1/chassis/N/heartbeat``
   from this process; the server's own counters give heartbeats and transactions per second.
3. Lateness: M chassis report once at staggered times and fall silent; the real
   ``DeadlineWatcher`` declares them down; for each, (chassis.down received on the bus) minus
   (last report + chassis_down_time). Baseline: a poller checking every report_interval, which is
   what a periodic "is it alive?" loop gives (its expected lateness is computed alongside).

    python bench/heartbeats.py --chassis 10000 --seconds 5              # SQLite
    python bench/heartbeats.py --chassis 10000 --db postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stateward.bus.base import Bus  # noqa: E402
from stateward.bus.memory import MemoryBus  # noqa: E402
from stateward.config import BusConfig, LivenessConfig, to_async_url  # noqa: E402
from stateward.domain.chassis import Chassis  # noqa: E402
from stateward.domain.events import Envelope, utcnow  # noqa: E402
from stateward.services.liveness import (  # noqa: E402
    ABSORB_GROUP,
    ABSORBED,
    HEARTBEAT_SUBJECT,
    TRANSACTIONS,
    LivenessService,
)
from stateward.services.outbox import OutboxRelay  # noqa: E402
from stateward.store.db import Store  # noqa: E402
from stateward.store.migrate import upgrade_async  # noqa: E402
from stateward.store.repositories.chassis import ChassisRepository  # noqa: E402


def names(n: int) -> list[str]:
    return [f"bench-{i:06d}" for i in range(n)]


async def fresh_store(db: str | None, tmp: Path) -> tuple[Store, str, Any]:
    """A migrated empty database: a SQLite file, or a new PostgreSQL database."""
    cleanup = None
    if db and db.startswith("postgres"):
        import asyncpg

        name = f"sw_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(db)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = db.rsplit("/", 1)[0] + "/" + name

        async def drop() -> None:
            admin = await asyncpg.connect(db)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

        cleanup = drop
    else:
        url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    async_url = to_async_url(url)
    await upgrade_async(async_url)
    return Store(async_url), url, cleanup


async def register_all(store: Store, chassis: list[str]) -> None:
    now = utcnow()
    async with store.uow() as uow:
        repo = ChassisRepository(uow)
        for name in chassis:
            await repo.add(Chassis(name, "10.0.0.1", ["vxlan"], {}, now, {}, created_at=now))
        await uow.commit()


# -- 1. NATS path ----------------------------------------------------------------------------
def producer_main(args: argparse.Namespace) -> None:
    """Child process: flood heartbeat signals for ``--chassis`` chassis for ``--seconds``."""

    async def go() -> None:
        import nats

        nc = await nats.connect(args.nats, pending_size=64 * 1024 * 1024)
        subject = f"{args.prefix}.signals.{HEARTBEAT_SUBJECT}"
        payloads = [json.dumps({"chassis": n}).encode() for n in names(args.chassis)]
        start = time.monotonic()
        end = start + args.seconds
        sent = 0
        chunk = 500
        while time.monotonic() < end:
            for i in range(chunk):
                await nc.publish(subject, payloads[(sent + i) % len(payloads)])
            sent += chunk
            await nc.flush()
            ahead = start + sent / args.rate - time.monotonic()  # pace to --rate
            if ahead > 0:
                await asyncio.sleep(ahead)
        await nc.flush()
        await nc.close()
        print(json.dumps({"sent": sent}), flush=True)

    asyncio.run(go())


async def nats_run(
    args: argparse.Namespace, store: Store, chassis: list[str], baseline: bool
) -> dict[str, float]:
    from stateward.bus.nats import NatsBus

    prefix = f"swbench{uuid.uuid4().hex[:8]}"
    bus = NatsBus(BusConfig(url=args.nats, stream=prefix, subject_prefix=prefix))
    await bus.start()
    config = LivenessConfig(report_interval=30, chassis_down_time=75)
    service = LivenessService(store, bus, config)
    handled = 0
    transactions = 0

    async def one_update_per_heartbeat(_subject: str, data: bytes) -> None:
        nonlocal handled, transactions
        name = json.loads(data)["chassis"]
        async with store.uow() as uow:
            await ChassisRepository(uow).record_one_heartbeat(name, utcnow())
            await uow.commit()
        handled += 1
        transactions += 1

    if baseline:
        sub = await bus.listen(HEARTBEAT_SUBJECT, one_update_per_heartbeat, group=ABSORB_GROUP)
    else:
        await service.absorber.start()
    a0, t0 = ABSORBED.labels("nats")._value.get(), TRANSACTIONS._value.get()
    producer = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--produce",
        "--nats",
        args.nats,
        "--prefix",
        prefix,
        "--chassis",
        str(len(chassis)),
        "--seconds",
        str(args.seconds),
        "--rate",
        str(args.rate),
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)  # producer connecting
    s_a, s_t, s_h, s_tx = (
        ABSORBED.labels("nats")._value.get(),
        TRANSACTIONS._value.get(),
        handled,
        transactions,
    )
    start = time.perf_counter()
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.5, args.seconds - 0.5))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    e_a, e_t, e_h, e_tx = (
        ABSORBED.labels("nats")._value.get(),
        TRANSACTIONS._value.get(),
        handled,
        transactions,
    )
    out, _ = await producer.communicate()
    if baseline:
        await sub.unsubscribe()
        absorbed, tx = e_h - s_h, e_tx - s_tx
    else:
        await service.absorber.stop()
        absorbed, tx = e_a - s_a, e_t - s_t
    await bus.close()
    del a0, t0
    sent = json.loads(out.decode().strip().splitlines()[-1])["sent"] if out else 0
    return {
        "heartbeats_per_s": absorbed / elapsed,
        "transactions_per_s": tx / elapsed,
        "cpu_share": cpu / elapsed,
        "sent_per_s": sent / args.seconds,
    }


# -- 2. HTTP path ----------------------------------------------------------------------------
async def http_run(args: argparse.Namespace, tmp: Path, n: int) -> dict[str, float]:
    import httpx

    from tests.conftest import free_port

    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "STATEWARD_STATE_DIR": str(tmp / "http-server"),
            "STATEWARD_ADMIN_PASSWORD": "bench",
            "STATEWARD_LOGGING__LEVEL": "WARNING",
        }
    )
    if args.db and args.db.startswith("postgres"):
        store, url, cleanup = await fresh_store(args.db, tmp)
        await store.close()
        env["STATEWARD_DATABASE__URL"] = url
    else:
        cleanup = None
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stateward",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            body = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": "admin",
                                "domain": {"id": "default"},
                                "password": "bench",
                            }
                        },
                    },
                    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
                }
            }
            token = (await client.post("/identity/v3/auth/tokens", json=body)).headers[
                "X-Subject-Token"
            ]
            client.headers["X-Auth-Token"] = token
            chassis = names(n)
            sem = asyncio.Semaphore(64)

            async def reg(name: str) -> None:
                async with sem:
                    await client.put(f"/v1/chassis/{name}", json={"chassis": {"ip": "10.0.0.1"}})

            await asyncio.gather(*(reg(c) for c in chassis))

            async def metrics() -> tuple[float, float]:
                text = (await client.get("/metrics")).text
                hb = tx = 0.0
                for line in text.splitlines():
                    if line.startswith('stateward_liveness_heartbeats_total{transport="http"}'):
                        hb = float(line.split()[-1])
                    if line.startswith("stateward_liveness_heartbeat_transactions_total "):
                        tx = float(line.split()[-1])
                return hb, tx

            hb0, tx0 = await metrics()
            end = time.monotonic() + args.seconds
            start = time.perf_counter()

            async def worker(offset: int) -> None:
                i = offset
                while time.monotonic() < end:
                    await client.post(f"/v1/chassis/{chassis[i % n]}/heartbeat")
                    i += 64

            await asyncio.gather(*(worker(k) for k in range(64)))
            elapsed = time.perf_counter() - start
            hb1, tx1 = await metrics()
            return {
                "heartbeats_per_s": (hb1 - hb0) / elapsed,
                "transactions_per_s": (tx1 - tx0) / elapsed,
            }
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 20)
        if cleanup:
            await cleanup()


# -- 3. lateness ---------------------------------------------------------------------------
async def lateness_run(args: argparse.Namespace, store: Store) -> dict[str, float]:
    bus: Bus = MemoryBus()
    await bus.start()
    down_time, interval = args.down_time, args.down_time / 2.5
    config = LivenessConfig(report_interval=interval, chassis_down_time=down_time, restart_grace=0)
    service = LivenessService(store, bus, config)
    relay = OutboxRelay(store, bus, sweep_interval=5, retention=3600)
    await relay.start()
    await service.absorber.start()
    chassis = [f"late-{i:05d}" for i in range(args.late)]
    async with store.uow() as uow:
        repo = ChassisRepository(uow)
        for name in chassis:
            await repo.add(Chassis(name, "10.0.0.2", [], {}, None, {}, created_at=utcnow()))
        await uow.commit()
    received: dict[str, float] = {}
    generated: dict[str, float] = {}

    async def on_down(envelope: Envelope) -> None:
        received[envelope.resource_id or ""] = time.time()
        generated[envelope.resource_id or ""] = envelope.generated.timestamp()

    await bus.subscribe("chassis.down", on_down)
    watcher = asyncio.create_task(service.watcher.run())
    await asyncio.sleep(0.2)
    # each chassis reports once, spread over `spread` seconds, then falls silent
    spread = args.spread
    for i, name in enumerate(chassis):
        service.absorber.submit(name, None, "bench")
        if i % 10 == 9:
            await asyncio.sleep(spread / (len(chassis) / 10))
    await asyncio.sleep(spread + down_time + 2.0)
    async with store.uow(readonly=True) as uow:
        rows = {c.name: c for c in await ChassisRepository(uow).list(chassis)}
    late = []
    decided = []
    for name in chassis:
        hb = rows[name].heartbeat_at
        if name in received and hb is not None:
            deadline = (hb + timedelta(seconds=down_time)).timestamp()
            late.append((received[name] - deadline) * 1000)
            decided.append((generated[name] - deadline) * 1000)
    decided.sort()
    if decided:
        print(
            f"  (event created: p50 {statistics.median(decided):.1f} ms, "
            f"p99 {decided[int(len(decided) * 0.99) - 1]:.1f} ms after the deadline)"
        )
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    await service.absorber.stop()
    await relay.stop()
    await bus.close()
    late.sort()
    return {
        "declared": len(late),
        "of": len(chassis),
        "p50_ms": statistics.median(late) if late else float("nan"),
        "p99_ms": late[int(len(late) * 0.99) - 1] if late else float("nan"),
        "max_ms": late[-1] if late else float("nan"),
        # a poller that checks every report_interval is, on average, interval/2 late
        "poller_p50_ms": interval * 1000 / 2,
        "poller_p99_ms": interval * 1000 * 0.99,
    }


async def main(args: argparse.Namespace) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-"))
    backend = "PostgreSQL" if args.db and args.db.startswith("postgres") else "SQLite"
    print(f"# heartbeats benchmark: {args.chassis} chassis, {backend}, {args.seconds}s per run")
    if "nats" in args.runs:
        store, _, cleanup = await fresh_store(args.db, tmp)
        await register_all(store, names(args.chassis))
        batched = await nats_run(args, store, names(args.chassis), baseline=False)
        base = await nats_run(args, store, names(args.chassis), baseline=True)
        await store.close()
        if cleanup:
            await cleanup()
        ratio = batched["heartbeats_per_s"] / max(base["heartbeats_per_s"], 1e-9)
        print(
            f"NATS batched : {batched['heartbeats_per_s']:10.0f} heartbeats/s  "
            f"{batched['transactions_per_s']:7.1f} store tx/s  "
            f"(absorber CPU {batched['cpu_share'] * 100:.0f}% of one core; producer offered "
            f"{batched['sent_per_s']:.0f}/s)"
        )
        print(
            f"NATS baseline: {base['heartbeats_per_s']:10.0f} heartbeats/s  "
            f"{base['transactions_per_s']:7.1f} store tx/s  (one UPDATE transaction per "
            f"heartbeat)"
        )
        print(f"ratio batched/baseline: {ratio:.1f}x")
    if "http" in args.runs:
        http = await http_run(args, tmp, args.chassis)
        print(
            f"HTTP batched : {http['heartbeats_per_s']:10.0f} heartbeats/s  "
            f"{http['transactions_per_s']:7.1f} store tx/s  (64 concurrent clients, one "
            f"server process)"
        )
    if "lateness" in args.runs:
        store, _, cleanup = await fresh_store(args.db, tmp)
        late = await lateness_run(args, store)
        await store.close()
        if cleanup:
            await cleanup()
        print(
            f"chassis.down lateness ({late['declared']}/{late['of']} chassis, down time "
            f"{args.down_time}s): p50 {late['p50_ms']:.1f} ms  p99 {late['p99_ms']:.1f} ms  "
            f"max {late['max_ms']:.1f} ms"
        )
        print(
            f"  baseline poller every report_interval: p50 {late['poller_p50_ms']:.0f} ms  "
            f"p99 {late['poller_p99_ms']:.0f} ms  -> ratio p99 "
            f"{late['poller_p99_ms'] / max(late['p99_ms'], 1e-9):.0f}x better"
        )


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--chassis", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--db", default=None, help="postgresql://... (default: SQLite)")
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--rate", type=float, default=40_000, help="heartbeats/s offered over NATS")
    p.add_argument("--runs", default="nats,http,lateness")
    p.add_argument("--late", type=int, default=1000, help="chassis in the lateness run")
    p.add_argument("--spread", type=float, default=2.0, help="s over which they fall silent")
    p.add_argument("--down-time", type=float, default=1.0)
    p.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.produce:
        producer_main(arguments)
    else:
        asyncio.run(main(arguments))
