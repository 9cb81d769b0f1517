"""Server create: flavor, image, quota, scheduling and ports, in one transaction.

The steps Nova spreads over its API, conductor, scheduler and compute service happen here in
one use case: the flavor and image are checked, the scheduler picks a host (filter, weigh, then
claim under the host's lock so no two processes over-commit it), the ports are created or bound
on that host, and the server is ACTIVE once every port is bound — or ERROR with Nova's fault
("No valid host was found", a failed binding). The quota engine checks ``instances``, ``cores``,
``ram`` (and ``port``) before the commit; beyond a limit nothing of this is kept.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from prometheus_client import Counter

from stateward.config import LivenessConfig, SchedulerConfig
from stateward.domain import compute as rules
from stateward.domain import image as image_rules
from stateward.domain import scheduler
from stateward.domain.compute import BootRequest, Server
from stateward.domain.errors import Forbidden, InvalidInput, NotFound
from stateward.domain.events import utcnow
from stateward.domain.flavor import Flavor
from stateward.domain.scheduler import HostState, Ratios, Resources
from stateward.services.compute import instance_event
from stateward.services.flavors import FlavorService
from stateward.services.quotas import QuotaEngine
from stateward.services.server_ports import ServerPorts, Wanted, bound
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.chassis import ChassisRepository
from stateward.store.repositories.compute import ComputeRepository
from stateward.store.repositories.images import ImageRepository

log = logging.getLogger(__name__)

SCHEDULED = Counter(
    "stateward_scheduler_results_total", "Server placements", ["result"]
)  # placed, no_valid_host, forced


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class BootService:
    def __init__(
        self,
        store: Store,
        ports: ServerPorts,
        quotas: QuotaEngine,
        config: SchedulerConfig,
        liveness: LivenessConfig,
    ) -> None:
        self.store = store
        self.ports = ports
        self.quotas = quotas
        self.config = config
        self.liveness = liveness
        self.ratios = Ratios(
            cpu=config.cpu_allocation_ratio,
            ram=config.ram_allocation_ratio,
            disk=config.disk_allocation_ratio,
            reserved_cpus=config.reserved_host_cpus,
            reserved_memory_mb=config.reserved_host_memory_mb,
            reserved_disk_mb=config.reserved_host_disk_mb,
        )

    async def create(self, request: BootRequest) -> Server:
        now = utcnow()
        async with self.store.uow() as uow:
            flavor = await self._flavor(uow, request)
            await self._image(uow, request, flavor)
            await self._metadata_quota(uow, request)
            wanted = await self.ports.resolve(
                uow, request.project_id, request.networks, admin=request.admin
            )
            server = Server(
                id=str(uuid.uuid4()),
                project_id=request.project_id,
                user_id=request.user_id,
                name=request.name,
                host="",
                vm_state=rules.BUILDING,
                power_state=rules.NOSTATE,
                image_ref=request.image_ref,
                flavor_ref=flavor.id,
                availability_zone=request.zone or self.config.default_availability_zone,
                description=request.description,
                metadata=dict(request.metadata),
                created_at=now,
                updated_at=now,
                vcpus=flavor.vcpus,
                memory_mb=flavor.ram,
                root_gb=flavor.disk,
                flavor=flavor.snapshot(),
            )
            wanted_resources = Resources(flavor.vcpus, flavor.ram, flavor.disk)
            host, why = await self._place(uow, request, wanted_resources)
            repo = ComputeRepository(uow)
            if host is None:
                server.vm_state = rules.ERROR
                server.fault = scheduler.no_valid_host_fault(_iso(now), why)
                await repo.add_server(server)
                uow.emit(instance_event(server, None, "compute.instance.create.error"))
                await uow.commit()
                return server
            server.host = host.host
            if request.zone is None:
                server.availability_zone = host.zone
            await repo.add_server(server)
            ports = await self.ports.allocate(
                uow, server.id, server.project_id, host.host, server.availability_zone, wanted
            )
            server.created_ports = [p.id for p, created in ports if created]
            failed = [p.id for p, _ in ports if not bound(p)]
            if failed:
                server.vm_state = rules.ERROR
                server.fault = {
                    "code": 500,
                    "message": f"Binding failed for port {failed[0]}, please check neutron "
                    "logs for more information.",
                    "created": _iso(now),
                }
                event = "compute.instance.create.error"
            else:
                server.vm_state = rules.ACTIVE
                server.power_state = rules.RUNNING
                server.launched_at = now
                event = "compute.instance.create.end"
            await repo.save_server(server)
            uow.emit(instance_event(server, None, event))
            await uow.commit()
        return server

    async def _flavor(self, uow: UnitOfWork, request: BootRequest) -> Flavor:
        try:
            flavor = await FlavorService.visible(
                uow, request.flavor_id, request.project_id, admin=request.admin
            )
        except NotFound:
            raise InvalidInput(f"Flavor {request.flavor_id} could not be found.")
        if flavor.disabled:
            raise InvalidInput(f"Flavor {flavor.id} is disabled.")
        return flavor

    async def _image(self, uow: UnitOfWork, request: BootRequest, flavor: Flavor) -> None:
        if not request.image_ref:
            return
        repo = ImageRepository(uow)
        image = await repo.get(request.image_ref)
        visible = image is not None and (
            request.admin
            or image_rules.can_see(
                image,
                request.project_id,
                admin=False,
                member=await self._membership(repo, image.id, request.project_id),
            )
        )
        if image is None or not visible:
            raise InvalidInput(f"Image {request.image_ref} could not be found.")
        if image.status != image_rules.ACTIVE:
            raise InvalidInput(f"Image {image.id} is not active.")
        if image.min_ram > flavor.ram:
            raise InvalidInput("Flavor's memory is too small for requested image.")
        if flavor.disk and image.min_disk > flavor.disk:
            raise InvalidInput("Flavor's disk is too small for requested image.")
        if flavor.disk and (image.size or 0) > flavor.disk * 1024**3:
            raise InvalidInput(
                f"Flavor's disk is too small for requested image. Flavor disk is "
                f"{flavor.disk * 1024**3} bytes, image is {image.size} bytes."
            )

    @staticmethod
    async def _membership(repo: ImageRepository, image_id: str, project_id: str) -> str | None:
        member = await repo.member(image_id, project_id)
        return member.status if member else None

    async def _metadata_quota(self, uow: UnitOfWork, request: BootRequest) -> None:
        limits = await self.quotas.limits_in(uow, request.project_id, ["metadata_items"])
        limit = limits["metadata_items"]
        if limit != -1 and len(request.metadata) > limit:
            raise Forbidden(f"Maximum number of metadata items exceeds {limit}")

    # scheduling ---------------------------------------------------------------------------
    async def hosts(self, uow: UnitOfWork) -> list[HostState]:
        """Every compute host as the scheduler sees it."""
        now = self.now()
        chassis = await ChassisRepository(uow).list(None)
        compute = ComputeRepository(uow)
        overrides = await compute.overrides([c.name for c in chassis])
        usage = await compute.host_usage()
        states = []
        for c in chassis:
            view = rules.compute_service(
                c.name,
                c.is_active(now, self.liveness.chassis_down_time),
                overrides.get(c.name),
                c.heartbeat_at,
            )
            count, vcpus, ram, disk = usage.get(c.name, (0, 0, 0, 0))
            states.append(
                HostState(
                    host=c.name,
                    zone=c.external_ids.get(scheduler.ZONE_KEY)
                    or self.config.default_availability_zone,
                    enabled=not view.disabled,
                    up=view.is_up,
                    capacity=scheduler.capacity_of(c.external_ids),
                    used=Resources(vcpus, ram, disk),
                    servers=count,
                )
            )
        return states

    def now(self) -> datetime:
        return utcnow()

    async def _place(
        self, uow: UnitOfWork, request: BootRequest, wanted: Resources
    ) -> tuple[HostState | None, str]:
        """The host the server goes to, or None and why (the filters' counts)."""
        repo = ComputeRepository(uow)
        if request.host is not None:
            # an admin's named host: registered there as it is (Stateward's origin: servers
            # that already run), only its existence is checked
            if await ChassisRepository(uow).get(request.host) is None:
                raise InvalidInput(f"Compute host {request.host} could not be found.")
            await repo.lock_host(request.host)
            SCHEDULED.labels("forced").inc()
            zone = request.zone or self.config.default_availability_zone
            return HostState(request.host, zone, True, True, None), ""
        hosts = await self.hosts(uow)
        zones = {h.zone for h in hosts} | {self.config.default_availability_zone}
        if request.zone is not None and request.zone not in zones:
            raise InvalidInput("The requested availability zone is not available")
        candidates = scheduler.weigh(
            scheduler.filter_hosts(hosts, wanted, request.zone, self.ratios), self.ratios
        )
        for candidate in candidates:
            # Claim under the host's row lock, taken in a savepoint: when the host turns out
            # full, rolling back to the savepoint releases the lock, so a process never holds
            # one host while it waits for another (two processes trying hosts in different
            # orders would deadlock).
            savepoint = await uow.conn.begin_nested()
            await repo.lock_host(candidate.host)
            # recount under the lock: another process may have claimed it meanwhile
            usage = await repo.host_usage(candidate.host)
            count, vcpus, ram, disk = usage.get(candidate.host, (0, 0, 0, 0))
            current = HostState(
                candidate.host,
                candidate.zone,
                candidate.enabled,
                candidate.up,
                candidate.capacity,
                Resources(vcpus, ram, disk),
                count,
            )
            if scheduler.fits(current, wanted, self.ratios):
                await savepoint.commit()
                SCHEDULED.labels("placed").inc()
                return current, ""
            await savepoint.rollback()
        SCHEDULED.labels("no_valid_host").inc()
        why = scheduler.explain(hosts, wanted, request.zone, self.ratios)
        if candidates:
            why += f"; all {len(candidates)} were claimed meanwhile"
        log.info(
            "no valid host",
            extra={"project_id": request.project_id, "flavor": request.flavor_id, "why": why},
        )
        return None, why


__all__ = ["BootService", "Wanted"]
