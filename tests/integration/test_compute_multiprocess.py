"""Two server processes on one PostgreSQL and NATS: concurrent creates never exceed a quota,
and concurrent server creates never over-commit a host (counting and claiming happen under a
row lock in the creating transaction)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from stateward.config import to_async_url
from stateward.domain.chassis import Chassis
from stateward.domain.events import utcnow
from stateward.store.db import Store
from stateward.store.repositories.chassis import ChassisRepository
from tests.support.server import LiveServer, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.nats]


async def _hosts(url: str, hosts: dict[str, dict[str, str]]) -> None:
    store = Store(to_async_url(url))
    try:
        async with store.uow() as uow:
            now = utcnow()
            for i, (name, ids) in enumerate(hosts.items()):
                await ChassisRepository(uow).add(
                    Chassis(
                        name=name,
                        ip=f"192.0.2.{30 + i}",
                        external_ids=ids,
                        heartbeat_at=now,
                        created_at=now,
                    )
                )
            await uow.commit()
    finally:
        await store.close()


def _servers(tmp_path: Path, pg_url: str, nats_url: str, prefix: str) -> list[LiveServer]:
    env = {
        "STATEWARD_BUS__STREAM": prefix,
        "STATEWARD_BUS__SUBJECT_PREFIX": prefix,
        "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "3600",
        "STATEWARD_SCHEDULER__RESERVED_HOST_MEMORY_MB": "0",
    }
    # generous start deadlines: a busy shared machine can take long to start a process
    first = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="s1", timeout=120)
    try:
        second = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="s2", timeout=120)
    except BaseException:
        first.stop()
        raise
    return [first, second]


def _project_of(server: LiveServer, token: str) -> str:
    with server.client(token) as c:
        tok = c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).json()
    return str(tok["token"]["project"]["id"])


async def _burst(
    servers: list[LiveServer],
    token: str,
    path: str,
    bodies: list[dict[str, object]],
    mv: str = "2.75",
) -> list[httpx.Response]:
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": f"compute {mv}"}
    async with httpx.AsyncClient(timeout=60) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(f"{servers[i % 2].url}{path}", json=body, headers=headers)
                    for i, body in enumerate(bodies)
                )
            )
        )


async def test_quota_holds_under_concurrent_creates_in_two_processes(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    servers = await asyncio.to_thread(_servers, tmp_path, pg_url, nats_url, subject_prefix)
    try:
        token = servers[0].token()
        project = _project_of(servers[0], token)
        with servers[0].client(token) as c:
            c.put(f"/networking/v2.0/quotas/{project}", json={"quota": {"network": 5}})
            c.put(
                f"/compute/v2.1/os-quota-sets/{project}",
                json={"quota_set": {"instances": 4}},
            ).raise_for_status()
        await _hosts(pg_url, {"h1": {}})
        nets = await _burst(
            servers,
            token,
            "/networking/v2.0/networks",
            [{"network": {"name": f"n{i}"}} for i in range(20)],
        )
        codes = Counter(r.status_code for r in nets)
        assert codes == {201: 5, 409: 15}, [r.text for r in nets if r.status_code not in (201,)]
        assert all(
            r.json()["NeutronError"]["type"] == "OverQuota" for r in nets if r.status_code == 409
        )
        made = await _burst(
            servers,
            token,
            "/compute/v2.1/servers",
            [{"server": {"name": f"vm{i}", "flavorRef": "1"}} for i in range(16)],
        )
        assert Counter(r.status_code for r in made) == {202: 4, 403: 12}
        with servers[1].client(token) as c:
            assert len(c.get("/networking/v2.0/networks").json()["networks"]) == 5
            assert len(c.get("/compute/v2.1/servers").json()["servers"]) == 4
    finally:
        for server in servers:
            server.stop()


async def test_no_host_is_over_committed_by_two_processes(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    servers = await asyncio.to_thread(_servers, tmp_path, pg_url, nats_url, subject_prefix)
    try:
        token = servers[0].token()
        project = _project_of(servers[0], token)
        with servers[0].client(token) as c:
            c.put(
                f"/compute/v2.1/os-quota-sets/{project}",
                json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}},
            ).raise_for_status()
        # two hosts with room for 3 m1.tiny each (RAM 1536 MB, ratio 1.0)
        room = {"vcpus": "8", "memory_mb": "1536", "disk_gb": "100"}
        await _hosts(pg_url, {"c1": dict(room), "c2": dict(room)})
        made = await _burst(
            servers,
            token,
            "/compute/v2.1/servers",
            [{"server": {"name": f"vm{i}", "flavorRef": "1"}} for i in range(16)],
        )
        assert {r.status_code for r in made} == {202}
        with servers[1].client(token, **{"OpenStack-API-Version": "compute 2.75"}) as c:
            views = c.get("/compute/v2.1/servers/detail").json()["servers"]
        placed = Counter(v["OS-EXT-SRV-ATTR:host"] for v in views if v["status"] == "ACTIVE")
        assert placed == {"c1": 3, "c2": 3}
        errors = [v for v in views if v["status"] == "ERROR"]
        assert len(errors) == 10
        assert {v["fault"]["message"] for v in errors} == {
            "No valid host was found. There are not enough hosts available."
        }
    finally:
        for server in servers:
            server.stop()
