"""The inspector (Doctor): raw failures in, consistent state and notifications out.

Raw failures come from any monitor (``PUT /v1/inspector/events``, Doctor's event shape) and
from liveness (``chassis.down`` / ``chassis.up`` on the bus, handled by one process of the
``inspector`` queue group). Following Doctor's inspector design guideline:

* **Host specific VMs list.** A host → servers and host → ports index is kept in memory,
  built from the store at start and kept current from ``compute.instance.*`` and ``port.*``
  events (a broadcast subscription, so every process has it). It answers "what does this host
  carry" without asking the store; the state change itself is still guarded by the host column
  in the same transaction, so a server registered a moment ago elsewhere is never missed.
* **Parallel execution.** One transaction per host applies every change with set-based
  statements (forced down, servers to the fault state, ports' data-plane status DOWN); the
  notifications are written to the outbox with it and relayed right after commit. Several
  hosts are handled concurrently.

A duplicate raw failure (same host, type, monitor and ``monitor_event_id`` within
``[inspector] duplicate_window``) does nothing; a host already forced down is not changed
again. ``compute.host.up`` / ``chassis.up`` are recorded and notified, never acted on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from stateward.bus.base import Bus, Deduplicator, Subscription, idempotent
from stateward.config import ComputeConfig, InspectorConfig
from stateward.domain import compute as rules
from stateward.domain.compute import RawFailure
from stateward.domain.events import Envelope, TraceContext, deterministic_id, utcnow
from stateward.profiler.hooks import epoch_of
from stateward.profiler.stamp import open_trace, stamp
from stateward.services.compute import apply_host_down
from stateward.services.gcpause import gc_paused
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.chassis import ChassisRepository
from stateward.store.repositories.compute import ComputeRepository, FaultRecord
from stateward.store.repositories.network import NetworkRepository

log = logging.getLogger(__name__)

PUBLISHER = "inspector.stateward"
LIVENESS_MONITOR = "stateward-liveness"

RAW_FAILURES = Counter(
    "stateward_inspector_raw_failures_total", "Raw failures received", ["type", "outcome"]
)
HOST_DOWN_SECONDS = Histogram(
    "stateward_inspector_host_down_seconds",
    "Time to apply one host-down transaction",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)


class HostIndex:
    """host → {server id: project}, host → {port id: project}; current from events."""

    def __init__(self) -> None:
        self.servers: dict[str, dict[str, str]] = defaultdict(dict)
        self.ports: dict[str, dict[str, str]] = defaultdict(dict)
        self._server_host: dict[str, str] = {}
        self._port_host: dict[str, str] = {}

    def clear(self) -> None:
        self.servers.clear()
        self.ports.clear()
        self._server_host.clear()
        self._port_host.clear()

    def put_server(self, host: str, server_id: str, project_id: str) -> None:
        self.drop_server(server_id)
        if host:
            self.servers[host][server_id] = project_id
            self._server_host[server_id] = host

    def drop_server(self, server_id: str) -> None:
        host = self._server_host.pop(server_id, None)
        if host is not None:
            self.servers[host].pop(server_id, None)

    def put_port(self, host: str, port_id: str, project_id: str) -> None:
        self.drop_port(port_id)
        if host:
            self.ports[host][port_id] = project_id
            self._port_host[port_id] = host

    def drop_port(self, port_id: str) -> None:
        host = self._port_host.pop(port_id, None)
        if host is not None:
            self.ports[host].pop(port_id, None)

    def server_ids(self, host: str) -> list[str]:
        return list(self.servers.get(host, {}))

    def port_ids(self, host: str) -> list[str]:
        return list(self.ports.get(host, {}))

    async def on_event(self, envelope: Envelope) -> None:
        traits = envelope.traits
        kind = envelope.event_type
        if kind.startswith("compute.instance."):
            sid = traits.get("instance_id") or envelope.resource_id
            if not sid:
                return
            if kind.startswith("compute.instance.delete") or traits.get("state") == rules.DELETED:
                self.drop_server(sid)
            elif traits.get("host"):
                self.put_server(traits["host"], sid, str(traits.get("tenant_id") or ""))
        elif kind.startswith("port."):
            pid = traits.get("port_id") or envelope.resource_id
            if not pid:
                return
            if kind.startswith("port.delete"):
                self.drop_port(pid)
            else:
                self.put_port(
                    str(traits.get("host") or ""), pid, str(traits.get("tenant_id") or "")
                )


@dataclass
class Outcome:
    hostname: str
    type: str
    outcome: str  # host_down, already_down, duplicate, unknown_host, recorded
    servers: int = 0
    ports: int = 0
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "type": self.type,
            "outcome": self.outcome,
            "servers_changed": self.servers,
            "ports_changed": self.ports,
            "trace_id": self.trace_id,
        }


def host_event(
    failure: RawFailure, outcome: Outcome, trace: TraceContext, received: datetime
) -> Envelope:
    traits = {
        "host": failure.hostname,
        "monitor": failure.monitor,
        "monitor_event_id": failure.monitor_event_id,
        "status": "down" if failure.is_down else "up",
        "outcome": outcome.outcome,
        "servers_changed": outcome.servers,
        "ports_changed": outcome.ports,
    }
    return Envelope(
        event_type=failure.type,
        publisher_id=PUBLISHER,
        resource_id=failure.hostname,
        traits=traits,
        payload={"time": failure.time, "details": failure.details},
        trace=trace,
        message_id=deterministic_id(
            failure.type,
            failure.hostname,
            failure.monitor,
            failure.monitor_event_id or trace.trace_id,
            received.isoformat(),  # monitors reuse ids across faults (Doctor's sample does)
        ),
    )


class Inspector:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        compute: ComputeConfig,
        config: InspectorConfig,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.bus = bus
        self.compute = compute
        self.config = config
        self.now = now
        self.index = HostIndex()
        self._subs: list[Subscription] = []
        self._host_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    # role -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._subs.append(await self.bus.subscribe("compute.instance.>", self.index.on_event))
        self._subs.append(await self.bus.subscribe("port.>", self.index.on_event))
        await self.rebuild_index()
        if self.config.enabled and self.config.handle_chassis_down:
            handler = idempotent(self._on_chassis, Deduplicator())
            self._subs.append(await self.bus.subscribe("chassis.*", handler, group="inspector"))

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()

    async def rebuild_index(self) -> None:
        async with self.store.uow(readonly=True) as uow:
            servers = await ComputeRepository(uow).host_index()
            ports = await NetworkRepository(uow).host_port_index()
        self.index.clear()
        for host, sid, project in servers:
            self.index.put_server(host, sid, project)
        for host, pid, project in ports:
            self.index.put_port(host, pid, project)

    async def _on_chassis(self, envelope: Envelope) -> None:
        if envelope.event_type not in ("chassis.down", "chassis.up"):
            return
        host = str(envelope.traits.get("host") or envelope.resource_id or "")
        if not host:
            return
        failure = RawFailure(
            type=rules.HOST_DOWN if envelope.event_type == "chassis.down" else rules.HOST_UP,
            hostname=host,
            time=envelope.generated.isoformat(),
            status="down" if envelope.event_type == "chassis.down" else "up",
            monitor=LIVENESS_MONITOR,
            monitor_event_id=envelope.message_id,
            details={k: v for k, v in envelope.traits.items() if v is not None},
        )
        # liveness opened the trace (T00 deadline, T01 chassis.down committed) when it emitted
        trace = envelope.trace or open_trace(epoch_of(envelope.generated), host=host)
        await self.report([failure], traces=[trace])

    # use cases --------------------------------------------------------------------------
    async def report(
        self, failures: list[RawFailure], traces: list[TraceContext] | None = None
    ) -> list[Outcome]:
        """Handle raw failures: hosts in parallel, each host's events in order."""
        # every raw failure opens a trace: T00 the monitor's time for it, T01 now (profiler)
        traces = traces or [
            open_trace(epoch_of(f.time), host=f.hostname, monitor=f.monitor) for f in failures
        ]
        by_host: dict[str, list[int]] = defaultdict(list)
        for i, failure in enumerate(failures):
            by_host[failure.hostname].append(i)
        outcomes: list[Outcome | None] = [None] * len(failures)

        async def one_host(indexes: list[int]) -> None:
            for i in indexes:
                outcomes[i] = await self._handle(failures[i], traces[i])

        await asyncio.gather(*(one_host(ix) for ix in by_host.values()))
        return [o for o in outcomes if o is not None]

    async def _handle(self, failure: RawFailure, trace: TraceContext) -> Outcome:
        started = time.perf_counter()
        host = failure.hostname
        outcome = Outcome(host, failure.type, "recorded", trace_id=trace.trace_id)
        now = self.now()
        lock = self._host_locks[host]
        try:
            return await self._handle_locked(failure, trace, lock, started, outcome, now)
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._host_locks.pop(host, None)

    async def _handle_locked(
        self,
        failure: RawFailure,
        trace: TraceContext,
        lock: asyncio.Lock,
        started: float,
        outcome: Outcome,
        now: datetime,
    ) -> Outcome:
        host = failure.hostname
        async with lock, self.store.uow() as uow:
            with gc_paused():  # thousands of rows and notifications, all freed on commit
                done = await self._apply(uow, failure, trace, outcome, now)
        if not done:
            return outcome  # a duplicate
        if failure.is_down:
            HOST_DOWN_SECONDS.observe(time.perf_counter() - started)
        RAW_FAILURES.labels(failure.type, outcome.outcome).inc()
        log.info(
            "raw failure handled",
            extra={
                "host": host,
                "type": failure.type,
                "monitor": failure.monitor,
                "monitor_event_id": failure.monitor_event_id,
                "outcome": outcome.outcome,
                "servers_changed": outcome.servers,
                "ports_changed": outcome.ports,
                "trace_id": trace.trace_id,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return outcome

    async def _apply(
        self,
        uow: UnitOfWork,
        failure: RawFailure,
        trace: TraceContext,
        outcome: Outcome,
        now: datetime,
    ) -> bool:
        """The one transaction of a raw failure; False when it is a duplicate (nothing done)."""
        host = failure.hostname
        compute = ComputeRepository(uow)
        key = failure.dedup_key
        window = timedelta(seconds=self.config.duplicate_window)
        if key and await compute.recent_duplicate(host, key, now - window):
            outcome.outcome = "duplicate"
            RAW_FAILURES.labels(failure.type, outcome.outcome).inc()
            return False
        if await ChassisRepository(uow).get(host) is None:
            outcome.outcome = "unknown_host"
        elif failure.is_down:
            stamp(trace, "T02", vms=len(self.index.server_ids(host)))  # host index lookup
            result = await apply_host_down(
                uow,
                host,
                mode=self.compute.host_down_server_state,
                ports=self.config.port_data_plane_down,
                now=now,
                trace=trace,
                reason=f"host {host} down ({failure.monitor or 'monitor'})",
            )
            outcome.outcome = "host_down" if result.forced else "already_down"
            outcome.servers = len(result.servers)
            outcome.ports = len(result.ports)
        if outcome.outcome in ("host_down", "recorded"):
            uow.emit(host_event(failure, outcome, trace, now))
        await compute.add_fault(
            host=host,
            event_type=failure.type,
            monitor=failure.monitor,
            dedup_key=key,
            monitor_event_id=failure.monitor_event_id,
            reported_time=failure.time,
            received_at=now,
            outcome=outcome.outcome,
            servers_changed=outcome.servers,
            ports_changed=outcome.ports,
            details=failure.details,
            trace_id=trace.trace_id,
        )
        await uow.commit()
        return True

    async def history(self, host: str, limit: int = 50) -> list[FaultRecord]:
        async with self.store.uow(readonly=True) as uow:
            return await ComputeRepository(uow).faults(host, limit)

    async def known_hosts(self) -> list[str]:
        async with self.store.uow(readonly=True) as uow:
            chassis = [c.name for c in await ChassisRepository(uow).list()]
            faults = await ComputeRepository(uow).fault_hosts()
        return sorted(set(chassis) | set(faults))
