"""Fault → consumer notified: a raw failure for a host with N servers until the last
``compute.instance.update`` reaches a bus subscriber.

Stateward's path (one ``PUT /v1/inspector/events``: one transaction, set-based, outbox) is
measured side by side with the baseline Doctor's sample inspector implements against the same
Nova API in the same process: list ``servers/detail?all_tenants=True``, force the service down
at microversion 2.34, then ``os-resetState`` every server in parallel (upstream Nova behaviour,
``host_down_server_state = unchanged``, so each reset is what changes the server).

    python -m bench.host_faults --vms 50 --runs 30
    python -m bench.host_faults --vms 1000 --runs 5
    python -m bench.host_faults --db postgresql://postgres@127.0.0.1/DB --bus nats://127.0.0.1:4222

(the PostgreSQL database must exist and be empty; the NATS stream is private to the run)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from stateward.domain.compute import Server
from stateward.domain.events import Envelope, utcnow
from stateward.store.repositories.compute import ComputeRepository
from tests.support.inproc import Stack, stack


class Arrivals:
    def __init__(self) -> None:
        self.by_host: dict[str, list[float]] = defaultdict(list)

    async def __call__(self, envelope: Envelope) -> None:
        self.by_host[str(envelope.traits.get("host"))].append(time.perf_counter())

    async def wait(self, host: str, n: int, timeout: float = 60) -> float:
        deadline = time.perf_counter() + timeout
        while len(self.by_host[host]) < n:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{host}: {len(self.by_host[host])}/{n} notifications")
            await asyncio.sleep(0.0005)
        return max(self.by_host[host][:n])


async def populate(s: Stack, host: str, n: int, project: str, user: str) -> None:
    await s.add_chassis(host)
    now = utcnow()
    async with s.runtime.store.uow() as uow:
        repo = ComputeRepository(uow)
        for i in range(n):
            await repo.add_server(
                Server(
                    str(uuid.uuid4()),
                    project,
                    user,
                    f"{host}-{i}",
                    host,
                    created_at=now,
                    updated_at=now,
                )
            )
        await uow.commit()
    await s.runtime.inspector.rebuild_index()


async def stateward_path(s: Stack, arrivals: Arrivals, host: str, n: int) -> float:
    headers = await s.headers()
    body = [
        {
            "time": "now",
            "type": "compute.host.down",
            "details": {
                "hostname": host,
                "status": "down",
                "monitor": "bench",
                "monitor_event_id": host,
            },
        }
    ]
    t0 = time.perf_counter()
    r = await s.client.put("/v1/inspector/events", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["events"][0]["servers_changed"] == n, r.text
    return await arrivals.wait(host, n) - t0


async def doctor_path(s: Stack, arrivals: Arrivals, host: str, n: int) -> float:
    headers = await s.headers()
    t0 = time.perf_counter()
    r = await s.client.get("/compute/v2.1/servers/detail?all_tenants=True", headers=headers)
    ids = [v["id"] for v in r.json()["servers"] if v["OS-EXT-SRV-ATTR:host"] == host]
    assert len(ids) == n
    down = await s.client.put(
        "/compute/v2.1/os-services/force-down",
        json={"host": host, "binary": "nova-compute", "forced_down": True},
        headers={**headers, "OpenStack-API-Version": "compute 2.34"},
    )
    assert down.status_code == 200, down.text

    async def reset(sid: str) -> None:
        rr = await s.client.post(
            f"/compute/v2.1/servers/{sid}/action",
            headers=headers,
            json={"os-resetState": {"state": "error"}},
        )
        assert rr.status_code == 202

    await asyncio.gather(*(reset(i) for i in ids))
    return await arrivals.wait(host, n) - t0


async def drop_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:
        pass
    finally:
        await nc.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, list[float]] = {}
    for name, mode, path in (
        ("stateward", "error", stateward_path),
        ("doctor-sample", "unchanged", doctor_path),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
            overrides: dict[str, Any] = {
                "compute.host_down_server_state": mode,
                "inspector.port_data_plane_down": False,
            }
            if args.bus:
                prefix = f"bench{uuid.uuid4().hex[:8]}"
                overrides.update(
                    {"bus.url": args.bus, "bus.stream": prefix, "bus.subject_prefix": prefix}
                )
            async with stack(Path(tmp), db, **overrides) as s:
                arrivals = Arrivals()
                await s.runtime.bus.subscribe("compute.instance.update", arrivals)
                ctx = await s.runtime.identity.validate(await s.token())
                assert ctx.project_id is not None
                timings = []
                for i in range(args.warmup + args.runs):
                    host = f"{name}-h{i}-{uuid.uuid4().hex[:4]}"
                    await populate(s, host, args.vms, ctx.project_id, ctx.user_id)
                    elapsed = await path(s, arrivals, host, args.vms)
                    if i >= args.warmup:
                        timings.append(elapsed)
                results[name] = timings
            if args.bus:
                await drop_stream(args.bus, prefix)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vms", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite)")
    parser.add_argument("--bus", default=None, help="nats://host:4222 (default: in-process)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    sw, base = results["stateward"], results["doctor-sample"]
    backend = "postgresql" if args.db and args.db.startswith("postgres") else "sqlite"
    print(
        f"fault -> last compute.instance.update, {args.vms} servers, {args.runs} runs, "
        f"{backend} + {'NATS JetStream' if args.bus else 'in-process bus'}"
    )
    for name, values in results.items():
        print(
            f"  {name:14s} p50 {pct(values, 50) * 1000:8.1f} ms   p99 "
            f"{pct(values, 99) * 1000:8.1f} ms   mean {statistics.mean(values) * 1000:8.1f} ms"
        )
    print(
        f"  ratio (doctor-sample / stateward): p50 {pct(base, 50) / pct(sw, 50):.1f}x   "
        f"p99 {pct(base, 99) / pct(sw, 99):.1f}x"
    )


if __name__ == "__main__":
    main()
