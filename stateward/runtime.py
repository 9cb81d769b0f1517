"""The running system of one process: store, bus, services and the roles it hosts.

``stateward serve`` builds one Runtime and hands it to the API; tests build one the same way.
Roles are started in order and stopped in reverse, so nothing publishes into a closed bus.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Protocol

import sqlalchemy as sa

from stateward.bus import Bus, create_bus
from stateward.config import Settings
from stateward.identity.policy import Policy
from stateward.profiler.stamp import set_process_name
from stateward.services.agent_feed import AgentFeedService
from stateward.services.alarm_evaluator import AlarmEvaluator
from stateward.services.alarm_notifier import AlarmNotifier
from stateward.services.alarms import AlarmService
from stateward.services.boot import BootService
from stateward.services.compute import ComputeService
from stateward.services.flavors import FlavorService
from stateward.services.hypervisors import HypervisorService
from stateward.services.identity import Bootstrap, IdentityService
from stateward.services.images import ImageService
from stateward.services.inspector import Inspector
from stateward.services.journal import JournalRole, JournalService
from stateward.services.leases import SingletonRole
from stateward.services.liveness import WATCHER_LEASE, LivenessService, ServerServices
from stateward.services.network import NetworkService
from stateward.services.outbox import OutboxRelay
from stateward.services.profiles import ProfileRecorder, ProfileService
from stateward.services.quota_resources import register_builtin
from stateward.services.quotas import QuotaEngine
from stateward.services.server_ports import ServerPorts
from stateward.services.tunnel_view import TunnelView
from stateward.store.db import Store
from stateward.store.image_files import ImageFileStore
from stateward.store.migrate import code_heads, current_heads, upgrade_async

log = logging.getLogger(__name__)

SETUP_LOCK = 7420001  # PostgreSQL advisory lock id taken while migrating and bootstrapping


class Role(Protocol):
    """Anything the process runs in the background: started once, stopped at shutdown."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.store = Store(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        self.bus: Bus = create_bus(settings.bus, name=f"stateward-{self.process_id}")
        self.policy = Policy(settings.policy.file)
        self.relay = OutboxRelay(
            self.store,
            self.bus,
            sweep_interval=settings.outbox.sweep_interval,
            retention=settings.outbox.sent_retention,
        )
        self.identity = IdentityService(self.store, settings.identity, self.bus)
        self.liveness = LivenessService(self.store, self.bus, settings.liveness)
        self.network = NetworkService(
            self.store,
            settings.network,
            binding_check=self.liveness.host_alive,
            refuse_dead_binding=settings.liveness.refuse_binding_to_dead_chassis,
        )
        # The deadline watcher runs in one process at a time; every process absorbs heartbeats.
        self.liveness_watcher = SingletonRole(
            self.store,
            WATCHER_LEASE,
            self.process_id,
            self.liveness.watcher.run,
            ttl=settings.lease.ttl,
            renew_interval=settings.lease.renew_interval,
        )
        # What each chassis' agent needs, as a snapshot plus ordered changes; views register.
        self.feed = AgentFeedService(self.store, self.bus, settings.feed)
        self.feed.register(TunnelView())
        self.quotas = QuotaEngine(self.store, settings.quotas)
        register_builtin(self.quotas, settings.quotas)
        self.flavors = FlavorService(self.store)
        self.images = ImageService(
            self.store,
            ImageFileStore(settings.image_store_path, chunk_size=settings.image.chunk_size),
            size_cap=settings.image.size_cap,
        )
        server_ports = ServerPorts(self.network)
        self.compute = ComputeService(
            self.store, settings.compute, settings.liveness, ports=server_ports
        )
        self.boot = BootService(
            self.store, server_ports, self.quotas, settings.scheduler, settings.liveness
        )
        self.hypervisors = HypervisorService(self.store, self.boot)
        self.inspector = Inspector(self.store, self.bus, settings.compute, settings.inspector)
        set_process_name(self.process_id)  # names this process in its profile checkpoints
        self.profiles = ProfileService(self.store, settings.profiler)
        self.profile_recorder = ProfileRecorder(self.profiles, settings.profiler)
        self.roles: list[Role] = [
            self.identity,  # hears other processes' token revocations
            self.profile_recorder,
            self.relay,
            self.liveness.absorber,
            self.liveness_watcher,
            self.inspector,
            self.feed,
        ]
        if settings.liveness.services:
            self.roles.append(ServerServices(self.liveness, settings))
        self.alarms = AlarmService(self.store, record_history=settings.alarms.record_history)
        # the notifier delivers committed fires from the bus (any process of its queue group)
        self.alarm_notifier = AlarmNotifier(settings.alarms, self.bus)
        self.roles.append(self.alarm_notifier)
        self.alarm_evaluator: AlarmEvaluator | None = None
        if settings.alarms.evaluate:
            self.alarm_evaluator = AlarmEvaluator(
                self.store,
                self.bus,
                self.alarms,
                resync_interval=settings.alarms.resync_interval,
                record_history=settings.alarms.record_history,
                fire_memory=settings.alarms.fire_memory,
            )
            self.roles.append(self.alarm_evaluator)
        self.journal_role: JournalRole | None = None
        if settings.journal.enabled:
            from stateward.sdn import create_backend

            self.journal_role = JournalRole(
                self.store,
                settings.journal,
                create_backend(
                    settings.journal,
                    max_connections=settings.journal.max_in_flight,
                    client_name=f"stateward/{self.process_id}",
                ),
                self.process_id,
                lease_ttl=settings.lease.ttl,
                lease_renew=settings.lease.renew_interval,
            )
            self.journal = self.journal_role.service
            self.roles.append(self.journal_role)
        else:
            self.journal = JournalService(self.store, settings.journal, self.process_id)
        self.bootstrap: Bootstrap | None = None
        self._started: list[Role] = []

    async def prepare_database(self, *, migrate: bool) -> None:
        """Migrate (an empty database always) and create the bootstrap identity.

        Raises InvalidInput when the configured admin password is refused (empty, too short).
        """
        async with self._exclusive_setup():
            heads = await current_heads(self.settings.database_url)
            if migrate or not heads:
                await upgrade_async(self.settings.database_url)
            elif heads != code_heads(self.settings.database_url):
                raise RuntimeError(
                    "the database schema is not current; run 'stateward db upgrade' first"
                )
            configured = self.settings.identity.admin_password
            password = (
                configured.get_secret_value()
                if configured is not None
                else os.environ.get("STATEWARD_ADMIN_PASSWORD")
            )
            self.bootstrap = await self.identity.bootstrap(password)
            await self.flavors.bootstrap()

    @contextlib.asynccontextmanager
    async def _exclusive_setup(self) -> AsyncIterator[None]:
        """On PostgreSQL, one process at a time migrates and bootstraps (advisory lock)."""
        if self.store.is_sqlite:
            yield
            return
        async with self.store.engine.connect() as conn:
            await conn.execute(sa.text(f"SELECT pg_advisory_lock({SETUP_LOCK})"))
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(sa.text(f"SELECT pg_advisory_unlock({SETUP_LOCK})"))
                await conn.commit()

    async def start(self) -> None:
        await self.bus.start()
        for role in self.roles:
            await role.start()
            self._started.append(role)

    async def stop(self) -> None:
        for role in reversed(self._started):
            try:
                await role.stop()
            except Exception:
                log.exception("role failed to stop cleanly")
        self._started.clear()
        await self.bus.close()
        await self.store.close()
