"""Register chassis (hosts) straight in a server's store, as a registered agent would appear."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from stateward.config import to_async_url
from stateward.domain.chassis import Chassis
from stateward.domain.events import utcnow
from stateward.store.db import Store
from stateward.store.repositories.chassis import ChassisRepository
from tests.support.server import LiveServer


def server_db_url(server: LiveServer) -> str:
    url = server.env.get("STATEWARD_DATABASE__URL") or f"sqlite:///{server.state_dir}/stateward.db"
    return to_async_url(url)


async def add_chassis_async(url: str, hosts: Iterable[tuple[str, str]]) -> None:
    store = Store(to_async_url(url))
    try:
        async with store.uow() as uow:
            repo = ChassisRepository(uow)
            now = utcnow()
            for name, ip in hosts:
                await repo.add(
                    Chassis(name=name, ip=ip, heartbeat_at=now, created_at=now, tunnel_types=[])
                )
            await uow.commit()
    finally:
        await store.close()


def add_chassis(server: LiveServer, *names: str) -> None:
    """Alive chassis (heartbeat now) named ``names`` with test-net addresses."""
    hosts = [(n, f"192.0.2.{10 + i}") for i, n in enumerate(names)]
    asyncio.run(add_chassis_async(server_db_url(server), hosts))
