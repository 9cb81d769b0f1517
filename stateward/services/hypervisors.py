"""Nova's hypervisors: each chassis as a compute node, with what it reports and what runs there.

The same host states the scheduler sees (``BootService.hosts``), plus the chassis' address:
what ``openstack hypervisor list`` and DevStack-style installers (Doctor's) read.
"""

from __future__ import annotations

from dataclasses import dataclass

from stateward.domain.scheduler import HostState
from stateward.services.boot import BootService
from stateward.store.db import Store
from stateward.store.repositories.chassis import ChassisRepository


@dataclass(frozen=True)
class Hypervisor:
    state: HostState
    host_ip: str


class HypervisorService:
    def __init__(self, store: Store, boot: BootService) -> None:
        self.store = store
        self.boot = boot

    async def list(self) -> list[Hypervisor]:
        async with self.store.uow(readonly=True) as uow:
            states = await self.boot.hosts(uow)
            ips = {c.name: c.ip for c in await ChassisRepository(uow).list(None)}
        return [Hypervisor(s, ips.get(s.host, "")) for s in sorted(states, key=lambda s: s.host)]
