"""NATS bus fixtures: buses on a stream and subject prefix private to one test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.js.errors import NotFoundError

from stateward.bus.nats import NatsBus
from stateward.config import BusConfig


@pytest.fixture
def nats_config(nats_url: str, subject_prefix: str) -> BusConfig:
    return BusConfig(url=nats_url, stream=subject_prefix, subject_prefix=subject_prefix)


@pytest.fixture
async def make_nats_bus(nats_config: BusConfig) -> AsyncIterator[Callable[[], Awaitable[NatsBus]]]:
    """Starts NatsBus instances (each a "process"); closes them and deletes the stream after."""
    started: list[NatsBus] = []

    async def make() -> NatsBus:
        bus = NatsBus(nats_config, name=f"test-{len(started)}")
        await bus.start()
        started.append(bus)
        return bus

    yield make
    for bus in started:
        await bus.close()
    nc = await nats.connect(nats_config.url)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(nats_config.stream)
    finally:
        await nc.close()
