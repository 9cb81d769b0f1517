"""Two ``stateward serve`` processes on PostgreSQL + NATS, agents reporting over NATS.

SIGKILL the process holding the watcher lease together with one agent: the watcher moves to the
other process, which declares that chassis down exactly once (one outbox row, one message on
the bus), while the agents still reporting never flap; the restarted agent comes back up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from nats.js.errors import NotFoundError

from tests.support.agents import FAST_LIVENESS, create_service_user, start_agent
from tests.support.server import LiveServer, OpenStackCLI, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.cli]


class Observer:
    """A plain NATS subscriber on the event subjects: sees every publish, duplicates too."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def start(self, url: str, prefix: str) -> None:
        self.nc = await nats.connect(url)

        async def on_msg(msg: Any) -> None:
            self.seen.append(json.loads(msg.data))

        await self.nc.subscribe(f"{prefix}.events.chassis.>", cb=on_msg)
        await self.nc.flush()

    def of(self, event_type: str, name: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["event_type"] == event_type and e["resource_id"] == name]


async def pg_rows(pg_url: str, query: str) -> list[Any]:
    conn = await asyncpg.connect(pg_url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def until(check: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_watcher_moves_and_declares_down_exactly_once(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {
        **FAST_LIVENESS,
        "STATEWARD_BUS__STREAM": subject_prefix,
        "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix,
        "STATEWARD_LEASE__TTL": "1.0",
        "STATEWARD_LEASE__RENEW_INTERVAL": "0.2",
    }
    observer = Observer()
    await observer.start(nats_url, subject_prefix)
    servers: list[LiveServer] = []
    agents = {}
    try:
        servers.append(start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="a"))
        servers.append(start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="b"))
        create_service_user(servers[0])
        for i, name in enumerate(("n1", "n2", "n3"), start=1):
            agents[name] = start_agent(servers, tmp_path, name, f"10.9.0.{i}")
        token = servers[0].token()

        def active(server: LiveServer) -> set[str]:
            with server.client(token) as client:
                return {
                    c["name"]
                    for c in client.get("/v1/chassis").json()["chassis"]
                    if c["status"] == "active"
                }

        await until(lambda: active(servers[1]) == {"n1", "n2", "n3"}, what="3 active chassis")
        assert all('"transport": "nats"' in a.log.read_text() for a in agents.values())
        holder = (
            await pg_rows(pg_url, "SELECT holder FROM leases WHERE name = 'liveness-watcher'")
        )[0]["holder"]
        watcher = next(s for s in servers if f":{s.process.pid}:" in holder)
        survivor = next(s for s in servers if s is not watcher)

        watcher.stop(signal.SIGKILL)
        agents["n3"].kill(signal.SIGKILL)

        await until(lambda: observer.of("chassis.down", "n3"), what="chassis.down for n3")
        new_holder = (
            await pg_rows(pg_url, "SELECT holder FROM leases WHERE name = 'liveness-watcher'")
        )[0]["holder"]
        assert f":{survivor.process.pid}:" in new_holder
        await asyncio.sleep(1.5)  # time for any duplicate to show up
        assert len(observer.of("chassis.down", "n3")) == 1
        rows = await pg_rows(
            pg_url, "SELECT message_id FROM outbox WHERE event_type = 'chassis.down'"
        )
        assert len(rows) == 1
        down = observer.of("chassis.down", "n3")[0]
        assert down["traits"]["host"] == "n3" and down["publisher_id"] == "liveness.stateward"

        cli = OpenStackCLI(survivor, tmp_path)
        alive = {
            a["Host"]: a["Alive"]
            for a in cli.json("network", "agent", "list")
            if a["Binary"] == "stateward-agent"
        }
        assert alive["n3"] in (False, "XXX") and alive["n1"] in (True, ":-)")

        agents["n3"] = start_agent(servers, tmp_path, "n3", "10.9.0.3")
        await until(lambda: observer.of("chassis.up", "n3"), what="chassis.up for n3")
        await until(lambda: active(survivor) == {"n1", "n2", "n3"}, what="n3 active again")
        assert observer.of("chassis.down", "n1") == [] and observer.of("chassis.down", "n2") == []
    finally:
        for agent in agents.values():
            agent.stop()
        for server in servers:
            server.stop()
        await observer.nc.close()
        nc = await nats.connect(nats_url)
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(subject_prefix)
        await nc.close()
