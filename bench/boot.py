"""What scheduling and quota enforcement cost a create, against baselines in the same run.

1. ``POST /servers`` with a network, placed by the scheduler among ``--hosts`` chassis that
   report capacity (filters, weighers, a claim under the host's lock, a port), against the same
   create on an admin-named host (no scheduling: Stateward's registration path).
2. ``POST /v2.0/networks`` in a project with a finite network quota (the pre-commit hook locks
   and counts), against the same create with ``[quotas] enforce = false``.

Both through httpx's ASGI transport on one in-process runtime, so the ratios compare the work,
not the network.

    python -m bench.boot --servers 200 --hosts 20
    python -m bench.boot --db postgresql://postgres@127.0.0.1/EMPTY_DB
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from stateward.domain.chassis import Chassis
from stateward.domain.events import utcnow
from stateward.store.repositories.chassis import ChassisRepository
from tests.support.inproc import Stack, stack


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def _alternating(n: int, calls: dict[str, Any]) -> dict[str, list[float]]:
    """Time ``n`` calls of each kind, one of each in turn, so load changes hit all alike."""
    samples: dict[str, list[float]] = {label: [] for label in calls}
    for i in range(n):
        for label, call in calls.items():
            started = time.perf_counter()
            await call(i)
            samples[label].append(time.perf_counter() - started)
    return samples


async def _chassis(s: Stack, hosts: int) -> None:
    now = utcnow()
    capacity = {"vcpus": "64", "memory_mb": "262144", "disk_gb": "4000"}
    async with s.runtime.store.uow() as uow:
        for i in range(hosts):
            await ChassisRepository(uow).add(
                Chassis(
                    f"c{i}",
                    f"192.0.2.{i + 1}",
                    external_ids=dict(capacity),
                    heartbeat_at=now,
                    created_at=now,
                )
            )
        await uow.commit()


async def _servers(db: str | None, tmp: Path, n: int, hosts: int) -> dict[str, list[float]]:
    async with stack(tmp / "servers", db or f"sqlite:///{tmp}/servers.db") as s:
        await _chassis(s, hosts)
        await s.unlimited_quotas()
        h = await s.headers(mv="2.74")
        net = (
            await s.call(
                "POST",
                "/networking/v2.0/networks",
                headers=h,
                json={"network": {"name": "n"}},
                expect=201,
            )
        ).json()["network"]["id"]
        await s.call(
            "POST",
            "/networking/v2.0/subnets",
            headers=h,
            expect=201,
            json={"subnet": {"network_id": net, "cidr": "10.0.0.0/16", "ip_version": 4}},
        )

        def server(i: int, **extra: Any) -> dict[str, Any]:
            return {
                "server": {"name": f"vm{i}", "flavorRef": "1", "networks": [{"uuid": net}], **extra}
            }

        async def named(i: int) -> None:
            await s.call(
                "POST", "/compute/v2.1/servers", json=server(i, host="c0"), headers=h, expect=202
            )

        async def scheduled(i: int) -> None:
            await s.call("POST", "/compute/v2.1/servers", json=server(i), headers=h, expect=202)

        return await _alternating(n, {"named host": named, "scheduled": scheduled})


async def _networks(db: str | None, tmp: Path, n: int) -> dict[str, list[float]]:
    """Two runtimes side by side (own stores), one enforcing quotas, requests alternating."""
    urls = {}
    for label in ("quota off", "quota enforced"):
        if db:
            from stateward.bench.cluster import create_pg_database

            urls[label] = await create_pg_database(db)
        else:
            urls[label] = f"sqlite:///{tmp}/{label.replace(' ', '-')}.db"
    try:
        async with (
            stack(tmp / "off", urls["quota off"], **{"quotas.enforce": False}) as off,
            stack(tmp / "on", urls["quota enforced"]) as on,
        ):
            calls = {}
            for label, s in (("quota off", off), ("quota enforced", on)):
                h = await s.headers()
                project = await s.project_id("admin")
                await s.call(
                    "PUT",
                    f"/networking/v2.0/quotas/{project}",
                    headers=h,
                    json={"quota": {"network": 10 * n}},
                    expect=200,
                )

                async def create(i: int, s: Stack = s, h: dict[str, str] = h) -> None:
                    await s.call(
                        "POST",
                        "/networking/v2.0/networks",
                        headers=h,
                        json={"network": {"name": f"n{i}"}},
                        expect=201,
                    )

                calls[label] = create
            return await _alternating(n, calls)
    finally:
        if db:
            from stateward.bench.cluster import drop_pg_database

            for url in urls.values():
                await drop_pg_database(url)


def _report(title: str, figures: dict[str, list[float]], baseline: str) -> None:
    base50, base99 = _ms(figures[baseline])
    print(f"\n{title}")
    for label, samples in figures.items():
        p50, p99 = _ms(samples)
        print(
            f"  {label:16} n={len(samples):4}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
            f"  ratio to {baseline}: p50 {p50 / base50:.2f}x p99 {p99 / base99:.2f}x"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=100, help="of each kind")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--networks", type=int, default=100, help="of each kind")
    parser.add_argument("--db", help="an admin PostgreSQL URL (private databases are made)")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="stateward-bench-boot-") as tmp:
        db = None
        if args.db:
            from stateward.bench.cluster import create_pg_database

            db = await create_pg_database(args.db)
        try:
            servers = await _servers(db, Path(tmp), args.servers, args.hosts)
            networks = await _networks(args.db, Path(tmp), args.networks)
        finally:
            if db:
                from stateward.bench.cluster import drop_pg_database

                await drop_pg_database(db)
    backend = "PostgreSQL + in-process bus" if args.db else "SQLite + in-process bus"
    _report(f"server create with a port, {args.hosts} hosts, {backend}", servers, "named host")
    _report(f"network create, {backend}", networks, "quota off")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
