"""The FastAPI application: every service on one port, sharing one Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from stateward import __version__
from stateward.api import (
    agent_feed,
    alarm_quotas,
    alarms,
    chassis,
    compute,
    errors,
    events,
    identity,
    identity_admin,
    image,
    inspector,
    journal,
    networking,
    not_implemented,
    profiles,
    system,
)
from stateward.api.middleware import RequestMiddleware
from stateward.api.networking import agents
from stateward.api.networking import quotas as network_quotas
from stateward.runtime import Runtime


def create_app(runtime: Runtime, *, manage_lifecycle: bool = True) -> FastAPI:
    """Build the app; with ``manage_lifecycle`` the app starts and stops the runtime's roles."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await runtime.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await runtime.stop()

    app = FastAPI(
        title="Stateward",
        version=__version__,
        lifespan=lifespan,
        description="OpenStack-compatible state and fault API (Keystone v3, "
        "Neutron v2.0, Nova v2.1, Aodh v2) plus Stateward's /v1.",
    )
    app.state.runtime = runtime
    errors.install(app)
    for router in (
        identity.router,
        identity_admin.router,
        networking.router,
        agents.router,
        network_quotas.router,
        *compute.routers,
        *image.routers,
        inspector.router,
        system.router,
        chassis.router,
        agent_feed.router,
        alarm_quotas.router,
        alarms.router,
        events.router,
        journal.router,
        profiles.router,
    ):
        app.include_router(router)
    # Last of all routes: what no router above serves is "not implemented", per service.
    not_implemented.install(app)
    app.add_middleware(compute.MicroversionHeaders)
    app.add_middleware(RequestMiddleware, max_body_bytes=runtime.settings.server.max_body_bytes)
    return app
