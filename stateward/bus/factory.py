"""Choose the bus implementation from its URL."""

from __future__ import annotations

from stateward.bus.base import Bus
from stateward.config import BusConfig


def create_bus(config: BusConfig, *, name: str = "stateward") -> Bus:
    """``memory://`` gives the in-process bus, ``nats://…`` the JetStream one."""
    if config.url.startswith("memory://"):
        from stateward.bus.memory import MemoryBus

        return MemoryBus()
    if config.url.startswith(("nats://", "tls://")):
        from stateward.bus.nats import NatsBus

        return NatsBus(config, name=name)
    raise ValueError(f"bus.url: unsupported scheme in {config.url!r} (memory:// or nats://)")
