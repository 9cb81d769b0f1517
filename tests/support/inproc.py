"""A whole Stateward in this test's event loop: Runtime + app behind httpx's ASGI transport.

Fast enough to create hundreds of resources per test, and the bus is right here to record the
notifications a use case causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from stateward.api.app import create_app
from stateward.config import load_settings
from stateward.domain.chassis import Chassis
from stateward.domain.events import Envelope, utcnow
from stateward.runtime import Runtime
from stateward.store.repositories.chassis import ChassisRepository
from stateward.store.repositories.identity import IdentityRepository

PASSWORD = "admin-test-password"


class Recorder:
    """Every envelope published on the bus after ``start``."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.events.append(envelope)

    def of(self, event_type: str) -> list[Envelope]:
        return [e for e in self.events if e.event_type == event_type]

    async def wait_for(
        self, predicate: Callable[[list[Envelope]], bool], timeout: float = 10.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            if time.monotonic() > deadline:
                kinds = sorted({e.event_type for e in self.events})
                raise AssertionError(f"timed out; recorded {len(self.events)} events: {kinds}")
            await asyncio.sleep(0.01)


class Stack:
    def __init__(self, runtime: Runtime, client: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.client = client
        self._tokens: dict[tuple[str, str], str] = {}

    async def token(
        self, user: str = "admin", project: str = "admin", password: str = PASSWORD
    ) -> str:
        key = (user, project)
        if key not in self._tokens:
            body = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": user,
                                "domain": {"id": "default"},
                                "password": password,
                            }
                        },
                    },
                    "scope": {"project": {"name": project, "domain": {"id": "default"}}},
                }
            }
            r = await self.client.post("/identity/v3/auth/tokens", json=body)
            r.raise_for_status()
            self._tokens[key] = r.headers["X-Subject-Token"]
        return self._tokens[key]

    async def headers(
        self, user: str = "admin", project: str = "admin", mv: str | None = None
    ) -> dict[str, str]:
        h = {
            "X-Auth-Token": await self.token(
                user, project, PASSWORD if user == "admin" else "pw-test"
            )
        }
        if mv:
            h["OpenStack-API-Version"] = f"compute {mv}"
        return h

    async def user(self, name: str, project: str, role: str) -> None:
        """A user with password 'pw' and ``role`` on ``project`` (created if needed)."""
        with contextlib.suppress(Exception):
            await self.runtime.identity.create_project(project)
        await self.runtime.identity.create_user(name, "pw-test", project=project, role=role)

    async def add_chassis(self, *names: str) -> None:
        async with self.runtime.store.uow() as uow:
            repo = ChassisRepository(uow)
            now = utcnow()
            for i, name in enumerate(names):
                await repo.add(
                    Chassis(name=name, ip=f"192.0.2.{10 + i}", heartbeat_at=now, created_at=now)
                )
            await uow.commit()

    async def unlimited_quotas(self, project: str = "admin") -> None:
        """Lift the project's server and port limits (what an operator does for big tests)."""
        project_id = await self.project_id(project)
        h = await self.headers()
        await self.call(
            "PUT",
            f"/compute/v2.1/os-quota-sets/{project_id}",
            headers=h,
            json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}},
            expect=200,
        )
        await self.call(
            "PUT",
            f"/networking/v2.0/quotas/{project_id}",
            headers=h,
            json={"quota": {"port": -1, "network": -1, "subnet": -1}},
            expect=200,
        )

    async def project_id(self, name: str) -> str:
        async with self.runtime.store.uow(readonly=True) as uow:
            project = await IdentityRepository(uow).find_project(name, "default")
        assert project is not None, name
        return project.id

    async def record(self, pattern: str = ">") -> Recorder:
        recorder = Recorder()
        await self.runtime.bus.subscribe(pattern, recorder)
        return recorder

    async def call(
        self, method: str, url: str, *, expect: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        r = await self.client.request(method, url, **kwargs)
        if expect is not None:
            assert r.status_code == expect, f"{method} {url}: {r.status_code} {r.text}"
        return r


@contextlib.asynccontextmanager
async def stack(tmp_path: Path, db_url: str, **overrides: Any) -> AsyncIterator[Stack]:
    settings = load_settings(
        None,
        state_dir=tmp_path / "state",
        **{
            "database.url": db_url,
            "identity.admin_password": PASSWORD,
            "liveness.chassis_down_time": 3600.0,
            "logging.level": "WARNING",
            "alarms.action_open": ["127.0.0.0/8"],  # the tests' receivers are on loopback
            **overrides,
        },
    )
    runtime = Runtime(settings)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    app = create_app(runtime, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://stateward") as client:
            yield Stack(runtime, client)
    finally:
        await runtime.stop()
