"""An in-process API on a real store: the app, its runtime, and tokens for test principals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stateward.api.app import create_app
from stateward.config import load_settings
from stateward.domain.events import Envelope
from stateward.runtime import Runtime
from stateward.services.identity import NameRef, PasswordMethod

PASSWORD = "pw-for-tests"


@dataclass
class ApiHarness:
    runtime: Runtime
    client: httpx.AsyncClient
    events: list[Envelope] = field(default_factory=list)

    async def token(self, user: str, project: str) -> str:
        token_id, _ = await self.runtime.identity.authenticate(
            PasswordMethod(NameRef(name=user, domain_id="default"), PASSWORD),
            NameRef(name=project, domain_id="default"),
        )
        return token_id

    async def principal(self, user: str, project: str, role: str) -> str:
        """Create (if needed) a user with ``role`` on ``project`` and return a token."""
        identity = self.runtime.identity
        with suppress(Exception):
            await identity.create_project(project)
        try:
            await identity.create_user(user, PASSWORD, project=project, role=role)
        except Exception:
            await identity.assign_role(user, project, role)
        return await self.token(user, project)

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["X-Auth-Token"] = token
        return await self.client.request(method, path, headers=headers, **kwargs)


@asynccontextmanager
async def api_harness(
    tmp_path: Path, db_url: str | None = None, **overrides: Any
) -> AsyncIterator[ApiHarness]:
    settings = load_settings(
        state_dir=tmp_path / "state",
        **{"database.url": db_url, "identity.admin_password": PASSWORD, **overrides},
    )
    runtime = Runtime(settings)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    harness_events: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        harness_events.append(envelope)

    await runtime.bus.subscribe(">", collect)
    app = create_app(runtime, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        try:
            yield ApiHarness(runtime, client, harness_events)
        finally:
            await runtime.stop()


async def eventually(predicate: Any, timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy (generous bound, not a timing test)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
