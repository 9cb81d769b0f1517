"""The seed's multi-node emulation: realistic API load on several Stateward servers at once,
then a check that the controller (the shim) holds exactly what the store holds.

Each "tenant chain" creates a network and a subnet on it, some ports, updates the ports a few
times, deletes some of them and sometimes the whole network. Requests are spread over the
servers round robin; a server that stops answering is skipped (its in-flight request's
outcome is unknown, which the final comparison does not care about: the store is the truth).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from stateward.domain import journal as rules
from stateward.testing.controller_shim import order_violations

TYPES = {"network": "networks", "subnet": "subnets", "port": "ports"}


class AllServersDown(Exception):
    pass


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    by_server: dict[str, int] = field(default_factory=dict)


class Cluster:
    """Round-robin over servers, failing over when one does not answer."""

    def __init__(self, servers: list[str], token: str, timeout: float = 15.0) -> None:
        self.servers = [s.rstrip("/") for s in servers]
        self.clients = {
            s: httpx.AsyncClient(base_url=s, headers={"X-Auth-Token": token}, timeout=timeout)
            for s in self.servers
        }
        self.dead: set[str] = set()
        self._next = itertools.count()
        self.result = LoadResult()

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def request(self, method: str, path: str, body: Any = None) -> httpx.Response | None:
        """Send to the next live server; None when the outcome is unknown (server died
        mid-request)."""
        start = next(self._next)
        for i in range(len(self.servers)):
            server = self.servers[(start + i) % len(self.servers)]
            if server in self.dead:
                continue
            try:
                response = await self.clients[server].request(method, path, json=body)
            except httpx.ConnectError:
                self.dead.add(server)
                continue
            except httpx.HTTPError:
                self.dead.add(server)
                self.result.unknown += 1
                return None
            self.result.by_server[server] = self.result.by_server.get(server, 0) + 1
            if response.status_code < 400:
                self.result.ok += 1
            else:
                self.result.failed += 1
            return response
        raise AllServersDown("no server answers")


async def get_token(servers: list[str], username: str, password: str, project: str) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": username, "domain": {"id": "default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    async with httpx.AsyncClient(timeout=15) as client:
        for server in servers:
            try:
                response = await client.post(
                    server.rstrip("/") + "/identity/v3/auth/tokens", json=body
                )
            except httpx.HTTPError:
                continue
            response.raise_for_status()
            return response.headers["X-Subject-Token"]
    raise AllServersDown("no server answers")


async def tenant_chain(
    cluster: Cluster,
    index: int,
    ports: int,
    updates: int,
    rng: random.Random,
    delete_fraction: float,
    on_op: Any,
) -> None:
    net = "/networking/v2.0"
    response = await cluster.request(
        "POST", f"{net}/networks", {"network": {"name": f"emu-{index}"}}
    )
    on_op()
    if response is None or response.status_code != 201:
        return
    network_id = response.json()["network"]["id"]
    response = await cluster.request(
        "POST",
        f"{net}/subnets",
        {
            "subnet": {
                "network_id": network_id,
                "cidr": f"10.{index // 250}.{index % 250}.0/24",
                "ip_version": 4,
                "name": f"emu-{index}-v4",
            }
        },
    )
    on_op()
    port_ids: list[str] = []
    for p in range(ports):
        response = await cluster.request(
            "POST", f"{net}/ports", {"port": {"network_id": network_id, "name": f"emu-{index}-{p}"}}
        )
        on_op()
        if response is not None and response.status_code == 201:
            port_ids.append(response.json()["port"]["id"])
    for round_ in range(updates):
        for port_id in port_ids:
            await cluster.request(
                "PUT", f"{net}/ports/{port_id}", {"port": {"name": f"emu-{index}-u{round_}"}}
            )
            on_op()
    doomed = [p for p in port_ids if rng.random() < delete_fraction]
    for port_id in doomed:
        await cluster.request("DELETE", f"{net}/ports/{port_id}")
        on_op()
    if len(doomed) == len(port_ids) and rng.random() < 0.5:
        await cluster.request("DELETE", f"{net}/networks/{network_id}")
        on_op()


async def store_state(cluster: Cluster) -> dict[str, dict[str, dict[str, Any]]]:
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, collection in TYPES.items():
        response = await cluster.request("GET", f"/networking/v2.0/{collection}")
        if response is None or response.status_code != 200:
            raise AllServersDown(f"cannot list {collection}")
        result[kind] = {item["id"]: item for item in response.json()[collection]}
    return result


async def shim_state(shim: str) -> dict[str, dict[str, dict[str, Any]]]:
    async with httpx.AsyncClient(timeout=30) as client:
        data = (await client.get(shim.rstrip("/") + "/shim/state")).json()
    return {kind: {i["id"]: i for i in data.get(c, [])} for kind, c in TYPES.items()}


async def shim_log(shim: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as client:
        log: list[dict[str, Any]] = (await client.get(shim.rstrip("/") + "/shim/log")).json()["log"]
    return log


def compare(
    ours: dict[str, dict[str, dict[str, Any]]], theirs: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, list[str]]:
    """Objects the controller lacks, has in excess, or holds with different values."""
    report: dict[str, list[str]] = {"missing": [], "extra": [], "different": []}
    for kind in TYPES:
        mine, other = ours.get(kind, {}), theirs.get(kind, {})
        report["missing"] += [f"{kind}:{i}" for i in mine if i not in other]
        report["extra"] += [
            f"{kind}:{i}" for i in other if i not in mine and i != rules.CANARY_NETWORK_ID
        ]
        report["different"] += [
            f"{kind}:{i}:{','.join(rules.differs(kind, body, other[i]))}"
            for i, body in mine.items()
            if i in other and rules.differs(kind, body, other[i])
        ]
    return report


async def journal_status(cluster: Cluster) -> dict[str, Any] | None:
    response = await cluster.request("GET", "/v1/journal/status")
    if response is None or response.status_code != 200:
        return None
    status: dict[str, Any] = response.json()["journal"]
    return status


async def converge(cluster: Cluster, shim: str, timeout: float) -> dict[str, Any]:
    """Wait until nothing is left to sync and the shim equals the store (or time out)."""
    deadline = time.monotonic() + timeout
    report: dict[str, Any] = {}
    while True:
        status = await journal_status(cluster)
        ours = await store_state(cluster)
        theirs = await shim_state(shim)
        diff = compare(ours, theirs)
        rows = (status or {}).get("rows", {})
        settled = rows.get("pending", 0) == 0 and rows.get("processing", 0) == 0
        report = {
            "journal_rows": rows,
            "store": {k: len(v) for k, v in ours.items()},
            "controller": {k: len(v) for k, v in theirs.items()},
            **{k: v[:20] for k, v in diff.items()},
            "counts": {k: len(v) for k, v in diff.items()},
        }
        if settled and not any(diff.values()):
            report["converged"] = True
            return report
        if time.monotonic() > deadline:
            report["converged"] = False
            return report
        await asyncio.sleep(0.5)


async def emulate(
    servers: list[str],
    shim: str,
    *,
    username: str = "admin",
    password: str,
    project: str = "admin",
    networks: int = 20,
    ports: int = 5,
    updates: int = 2,
    delete_fraction: float = 0.3,
    concurrency: int = 8,
    converge_timeout: float = 120.0,
    seed: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    token = await get_token(servers, username, password, project)
    cluster = Cluster(servers, token)
    rng = random.Random(seed)
    expected_ops = networks * (2 + ports * (1 + updates) + int(ports * delete_fraction) + 1)
    started = time.monotonic()
    try:
        from rich.progress import Progress

        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("API load", total=expected_ops)
            semaphore = asyncio.Semaphore(concurrency)

            def on_op() -> None:
                bar.advance(task)

            async def one(index: int) -> None:
                async with semaphore:
                    await tenant_chain(
                        cluster,
                        index,
                        ports,
                        updates,
                        random.Random(rng.random()),
                        delete_fraction,
                        on_op,
                    )

            await asyncio.gather(*(one(i) for i in range(networks)))
        load_seconds = time.monotonic() - started
        report = await converge(cluster, shim, converge_timeout)
        log = await shim_log(shim)
        violations = order_violations(log)
        status = await journal_status(cluster)
    finally:
        await cluster.close()
    report.update(
        {
            "api_ok": cluster.result.ok,
            "api_failed": cluster.result.failed,
            "api_unknown": cluster.result.unknown,
            "api_by_server": cluster.result.by_server,
            "dead_servers": sorted(cluster.dead),
            "load_seconds": round(load_seconds, 2),
            "controller_ops": sum(1 for e in log if e.get("status", 500) < 300),
            "order_violations": violations[:20],
            "order_violation_count": len(violations),
            "full_sync": (status or {}).get("full_sync", {}).get("state"),
        }
    )
    report["ok"] = bool(report["converged"]) and not violations
    return report
