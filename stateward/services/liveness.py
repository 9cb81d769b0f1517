"""Chassis liveness (seed 000): registration, batched heartbeats, and the deadline watcher.

Three parts, each usable in one process or spread over many:

* ``LivenessService`` — the use cases: register a chassis (``chassis.create`` /
  ``chassis.update`` when its IP or tunnel types change), take a report, delete a chassis, and
  ``host_alive`` for other use cases (port binding).
* ``HeartbeatAbsorber`` — every server process runs one. Reports (over HTTP, or as bus signals
  on ``liveness.heartbeat`` shared by the ``liveness-absorb`` group) are collected for a few
  milliseconds and written with one executemany UPDATE in one transaction. A timestamp-only
  report is never broadcast as a chassis change. After each write the absorber sends the
  batch's ``(name, time)`` pairs as one ``liveness.beats`` signal, which the watcher hears
  whichever process it lives in.
* ``DeadlineWatcher`` — a singleton role (lease ``liveness-watcher``): each chassis' deadline
  in a heap (``DeadlineTable``) and ONE asyncio timer armed at the earliest deadline, so
  ``chassis.down`` leaves within milliseconds of the deadline, with no polling. Transitions are
  compare-and-set on the chassis' announced state and generation, and the event id derives
  from (chassis, down|up, generation), so a failover never emits a transition twice.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from stateward.bus.base import Bus, Subscription
from stateward.config import LivenessConfig
from stateward.domain.chassis import Chassis, DeadlineTable, ServiceStatus, check_intervals
from stateward.domain.errors import Conflict, InvalidInput, NotFound
from stateward.domain.events import Envelope, TraceContext, deterministic_id, utcnow
from stateward.profiler.stamp import new_trace, stamp
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.chassis import ChassisRepository

log = logging.getLogger(__name__)

PUBLISHER = "liveness.stateward"
HEARTBEAT_SUBJECT = "liveness.heartbeat"  # agents -> absorbers (queue group)
BEATS_SUBJECT = "liveness.beats"  # absorbers -> the watcher (broadcast)
ABSORB_GROUP = "liveness-absorb"
WATCHER_LEASE = "liveness-watcher"
TRANSITION_BATCH = 1000

ABSORBED = Counter("stateward_liveness_heartbeats_total", "Heartbeats absorbed", ["transport"])
TRANSACTIONS = Counter(
    "stateward_liveness_heartbeat_transactions_total", "Store transactions writing heartbeats"
)
TRANSITIONS = Counter(
    "stateward_liveness_transitions_total", "chassis.down / chassis.up emitted", ["state"]
)
WATCHED = Gauge("stateward_liveness_watched_chassis", "Chassis the watcher holds a deadline for")
LATENESS = Histogram(
    "stateward_liveness_down_lateness_seconds",
    "How long after its deadline a chassis.down was committed",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)

Clock = Callable[[], datetime]


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def chassis_view(c: Chassis, now: datetime, down_time: float) -> dict[str, Any]:
    """Stateward's /v1 representation (the heartbeat time itself is shown only as an age)."""
    age = c.last_seen_age(now)
    return {
        "name": c.name,
        "host": c.name,
        "ip": c.ip,
        "tunnel_types": list(c.tunnel_types),
        "external_ids": dict(c.external_ids),
        "status": c.status(now, down_time),
        "last_seen": iso(c.heartbeat_at),
        "last_seen_age": round(age, 3) if age is not None else None,
        "service_status": {k: v.to_dict() for k, v in sorted(c.service_status.items())},
        "admin_state_up": c.admin_state_up,
        "report_interval": c.report_interval,
        "generation": c.generation,
        "created_at": iso(c.created_at),
    }


def _event_view(c: Chassis) -> dict[str, Any]:
    return {
        "name": c.name,
        "ip": c.ip,
        "tunnel_types": list(c.tunnel_types),
        "external_ids": dict(c.external_ids),
        "service_status": {k: v.to_dict() for k, v in c.service_status.items()},
    }


def transition_event(c: Chassis, state: str, trace: TraceContext | None = None) -> Envelope:
    """chassis.down / chassis.up: the contract other areas subscribe to."""
    return Envelope(
        trace=trace,
        event_type=f"chassis.{state}",
        publisher_id=PUBLISHER,
        project_id=None,
        resource_id=c.name,
        priority="ERROR" if state == "down" else "INFO",
        traits={
            "host": c.name,
            "chassis": c.name,
            "ip": c.ip,
            "generation": c.generation,
            "last_seen": iso(c.heartbeat_at),
        },
        payload={"chassis": _event_view(c)},
        message_id=deterministic_id("chassis", c.name, state, c.generation),
    )


def _services(raw: dict[str, Any] | None) -> dict[str, ServiceStatus] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("services must be an object of service name to status")
    out = {}
    for name, value in raw.items():
        if not isinstance(value, dict):
            raise InvalidInput(f"services.{name} must be an object")
        out[str(name)] = ServiceStatus.from_dict(value)
    return out


async def host_alive(
    uow: UnitOfWork,
    host: str,
    *,
    chassis_down_time: float = 75.0,
    now: datetime | None = None,
) -> bool | None:
    """Is this host's chassis up? None when no chassis of that name ever registered."""
    chassis = await ChassisRepository(uow).get(host)
    if chassis is None:
        return None
    return chassis.is_active(now or utcnow(), chassis_down_time)


@dataclass
class _Pending:
    at: datetime
    services: dict[str, Any] | None
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)


class HeartbeatAbsorber:
    """Collects reports for ``batch_delay`` (or ``batch_max`` of them) and writes them at once."""

    def __init__(self, store: Store, bus: Bus, config: LivenessConfig, *, now: Clock = utcnow):
        self.store = store
        self.bus = bus
        self.config = config
        self.now = now
        self._pending: dict[str, _Pending] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._signals = 0
        self.listen_bus = True

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="liveness-absorber")
        if self.listen_bus:
            self._sub = await self.bus.listen(
                HEARTBEAT_SUBJECT, self._on_signal, group=ABSORB_GROUP
            )

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._pending:
            try:
                await self.flush()
            except Exception:
                log.warning("heartbeats lost at shutdown", extra={"count": len(self._pending)})

    async def _on_signal(self, _subject: str, data: bytes) -> None:
        """A report over the bus: ``{"chassis": name, "services": {...}?}`` or a list of them."""
        try:
            decoded = json.loads(data)
            items = decoded if isinstance(decoded, list) else [decoded]
            for item in items:
                name = str(item["chassis"])
                services = item.get("services")
                self.submit(name, services if isinstance(services, dict) else None, "nats")
        except (ValueError, KeyError, TypeError):
            log.warning("undecodable heartbeat dropped", extra={"size": len(data)})
        self._signals += 1
        if self._signals % 256 == 0:
            # Under a flood the subscription's queue never empties and never yields: give the
            # writer its turn, or nothing gets written until the flood stops.
            await asyncio.sleep(0)

    def submit(
        self, name: str, services: dict[str, Any] | None, transport: str = "http"
    ) -> asyncio.Future[bool] | None:
        """Queue a report received now. Later reports of a chassis replace earlier ones."""
        at = self.now()
        ABSORBED.labels(transport).inc()
        pending = self._pending.get(name)
        if pending is None:
            pending = self._pending[name] = _Pending(at, services)
        else:
            pending.at = max(at, pending.at)
            if services is not None:
                pending.services = services
        if not self._wake.is_set():
            self._wake.set()
        if transport == "http":
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            pending.waiters.append(future)
            return future
        return None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self.config.batch_delay and len(self._pending) < self.config.batch_max:
                await asyncio.sleep(self.config.batch_delay)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat batch write failed; retrying")
                await asyncio.sleep(0.1)
                self._wake.set()

    async def flush(self) -> int:
        """Write everything pending in one transaction; returns how many chassis were written."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        if len(batch) > self.config.batch_max:
            items = list(batch.items())
            batch = dict(items[: self.config.batch_max])
            self._pending.update(dict(items[self.config.batch_max :]))
            self._wake.set()
        beats = [(n, p.at) for n, p in batch.items() if p.services is None]
        statuses = [(n, p.at, p.services) for n, p in batch.items() if p.services is not None]
        statuses_: list[tuple[str, datetime, dict[str, Any]]] = [
            (n, at, ss) for n, at, ss in statuses if ss is not None
        ]
        asked = [n for n, p in batch.items() if p.waiters]
        try:
            async with self.store.uow() as uow:
                repo = ChassisRepository(uow)
                await repo.record_heartbeats(beats, statuses_)
                known: set[str] = set(await repo.existing(asked)) if asked else set()
                await uow.commit()
        except BaseException:
            for name, pending in batch.items():  # put them back unless newer ones came
                self._pending.setdefault(name, pending)
            raise
        TRANSACTIONS.inc()
        for name, pending in batch.items():
            for waiter in pending.waiters:
                if not waiter.done():
                    waiter.set_result(name in known)
        try:
            await self.bus.send(
                BEATS_SUBJECT,
                json.dumps([[n, p.at.timestamp()] for n, p in batch.items()]).encode(),
            )
        except Exception:
            log.warning("could not forward heartbeats to the watcher")
        return len(batch)


class DeadlineWatcher:
    """The singleton that declares chassis down the moment their deadline passes."""

    def __init__(self, store: Store, bus: Bus, config: LivenessConfig, *, now: Clock = utcnow):
        self.store = store
        self.bus = bus
        self.config = config
        self.now = now
        self.table = DeadlineTable(config.chassis_down_time)
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at: datetime | None = None
        self._work: asyncio.Queue[tuple[str, str, datetime | None]] = asyncio.Queue()
        self._ready = asyncio.Event()
        self.running = False

    async def run(self) -> None:
        """The role body: listen first, rebuild from the store, then react until cancelled."""
        self.table = DeadlineTable(self.config.chassis_down_time)
        early: list[tuple[str, datetime]] = []
        self._ready.clear()

        async def on_beats(_subject: str, data: bytes) -> None:
            try:
                pairs = [
                    (str(n), datetime.fromtimestamp(float(t), UTC)) for n, t in json.loads(data)
                ]
            except (ValueError, TypeError):
                log.warning("undecodable beats signal dropped")
                return
            if not self._ready.is_set():
                early.extend(pairs)
                return
            self.beats(pairs)

        sub = await self.bus.listen(BEATS_SUBJECT, on_beats)
        worker = asyncio.create_task(self._transitions(), name="liveness-transitions")
        try:
            await self.rebuild()
            self._ready.set()
            self.running = True
            self.beats(early)
            early.clear()
            await asyncio.Future()  # until cancelled (lease lost or shutdown)
        finally:
            self.running = False
            self._cancel_timer()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await sub.unsubscribe()

    async def rebuild(self) -> None:
        """Deadlines from the store, with the restart grace: a restart never downs the fleet."""
        async with self.store.uow(readonly=True) as uow:
            rows = await ChassisRepository(uow).liveness_rows()
        now = self.now()
        for name, last_seen, announced in rows:
            self.table.load(
                name, last_seen, down=announced == "down", now=now, grace=self.config.grace
            )
        WATCHED.set(len(self.table))
        log.info("liveness watcher rebuilt", extra={"chassis": len(rows)})
        self._arm()

    def beats(self, pairs: list[tuple[str, datetime]]) -> None:
        for name, at in pairs:
            if self.table.beat(name, at):
                self._work.put_nowait(("up", name, at))
        WATCHED.set(len(self.table))
        self._arm()

    def forget(self, name: str) -> None:
        self.table.forget(name)

    # the single timer ---------------------------------------------------------------------
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._armed_at = None

    def _arm(self) -> None:
        nxt = self.table.next_deadline()
        if nxt is None:
            self._cancel_timer()
            return
        if self._timer is not None and self._armed_at == nxt:
            return
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        delay = (nxt - self.now()).total_seconds()
        self._armed_at = nxt
        self._timer = loop.call_at(loop.time() + max(0.0, delay), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed_at = None
        for name, deadline in self.table.expired(self.now()):
            self._work.put_nowait(("down", name, deadline))
        self._arm()

    # transitions (compare-and-set, one transaction each) ---------------------------------
    async def _transitions(self) -> None:
        """Apply queued transitions; everything queued at once goes in ONE transaction (a rack
        that loses power is hundreds of chassis.down in the same millisecond)."""
        while True:
            batch = [await self._work.get()]
            while not self._work.empty() and len(batch) < TRANSITION_BATCH:
                batch.append(self._work.get_nowait())
            try:
                await self._apply(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("liveness transitions failed; retrying", extra={"n": len(batch)})
                await asyncio.sleep(0.2)
                for kind, name, when in batch:
                    if kind == "down" and not self.table.is_down(name):
                        continue  # it reported again meanwhile
                    self._work.put_nowait((kind, name, when))

    async def _apply(self, batch: list[tuple[str, str, datetime | None]]) -> None:
        slack = timedelta(milliseconds=1)
        done: list[tuple[str, Chassis, datetime | None, TraceContext | None]] = []
        async with self.store.uow() as uow:
            repo = ChassisRepository(uow)
            current = {c.name: c for c in await repo.list(sorted({n for _, n, _ in batch}))}
            for kind, name, when in batch:
                chassis = current.get(name)
                if chassis is None:
                    self.table.forget(name)
                    continue
                if kind == "down":
                    if chassis.announced == "down" or not self.table.is_down(name):
                        continue  # already announced, or it reported again meanwhile
                    known = self.table.last_seen(name)
                    if (
                        chassis.heartbeat_at is not None
                        and (known is None or chassis.heartbeat_at > known + slack)
                        and chassis.heartbeat_at + self.table.down_time > self.now()
                    ):
                        # The store saw a report this process did not hear of (lost signal).
                        self.table.beat(name, chassis.heartbeat_at)
                        self._arm()
                        continue
                    stale_before: datetime | None = self.now() - self.table.down_time + slack
                else:
                    if chassis.announced != "down":
                        continue
                    stale_before = None
                if not await repo.announce(
                    name, kind, expected_generation=chassis.generation, stale_before=stale_before
                ):
                    continue  # another watcher did it, or a fresher report is stored
                chassis.generation += 1
                chassis.announced = kind
                trace = new_trace() if kind == "down" else None  # a raw failure: profiled
                uow.emit(transition_event(chassis, kind, trace))
                done.append((kind, chassis, when, trace))
            if not done:
                return
            await uow.commit()
            for _kind, chassis, when, trace in done:  # before anything else runs
                if trace is not None:  # profiler: T00 the deadline, T01 chassis.down committed
                    last_seen = iso(chassis.heartbeat_at)
                    if when is not None:
                        stamp(
                            trace, "T00", t=when.timestamp(), host=chassis.name, last_seen=last_seen
                        )
                    stamp(trace, "T01", host=chassis.name, monitor="stateward-liveness")
        now = self.now()
        for kind, chassis, when, _trace in done:
            TRANSITIONS.labels(kind).inc()
            if kind == "down" and when is not None:
                LATENESS.observe(max(0.0, (now - when).total_seconds()))
            log.log(
                logging.WARNING if kind == "down" else logging.INFO,
                "chassis %s",
                kind,
                extra={
                    "chassis": chassis.name,
                    "generation": chassis.generation,
                    "last_seen": iso(chassis.heartbeat_at),
                },
            )


class LivenessService:
    """The use cases other adapters call (API, CLI, the server's own service supervisor)."""

    def __init__(self, store: Store, bus: Bus, config: LivenessConfig, *, now: Clock = utcnow):
        self.store = store
        self.bus = bus
        self.config = config
        self.now = now
        self.absorber = HeartbeatAbsorber(store, bus, config, now=now)
        self.watcher = DeadlineWatcher(store, bus, config, now=now)

    @property
    def down_time(self) -> float:
        return self.config.chassis_down_time

    async def host_alive(self, uow: UnitOfWork, host: str) -> bool | None:
        """The port-binding check (``NetworkService.binding_check``)."""
        return await host_alive(uow, host, chassis_down_time=self.down_time, now=self.now())

    def effective_interval(self, requested: float | None) -> float:
        """The interval an agent must report at; a request beyond the guard is a 400."""
        if requested is None:
            return self.config.report_interval
        if not isinstance(requested, int | float) or isinstance(requested, bool):
            raise InvalidInput("report_interval must be a number of seconds")
        check_intervals(float(requested), self.down_time)
        return float(requested)

    async def register(
        self,
        name: str,
        ip: str,
        *,
        tunnel_types: list[str] | None = None,
        external_ids: dict[str, str] | None = None,
        report_interval: float | None = None,
        services: dict[str, Any] | None = None,
    ) -> tuple[Chassis, bool, float]:
        """Create or refresh a chassis; returns it, whether it was new, and its interval."""
        interval = self.effective_interval(report_interval)
        parsed = _services(services)
        now = self.now()
        async with self.store.uow() as uow:
            repo = ChassisRepository(uow)
            chassis = await repo.get(name)
            created = chassis is None
            if chassis is None:
                chassis = Chassis(
                    name=name,
                    ip=ip,
                    tunnel_types=list(tunnel_types or []),
                    external_ids=dict(external_ids or {}),
                    heartbeat_at=now,
                    service_status=parsed or {},
                    created_at=now,
                    announced="up",
                    report_interval=interval,
                    # Generations of a re-created chassis must not reuse an earlier
                    # incarnation's event ids (outbox and JetStream drop duplicates).
                    generation=int(now.timestamp()),
                )
                await repo.add(chassis)
                uow.emit(self._change_event("create", chassis, None))
            else:
                old_ip = chassis.ip
                changed = chassis.reported_change(ip, tunnel_types or chassis.tunnel_types)
                chassis.ip = ip
                if tunnel_types is not None:
                    chassis.tunnel_types = list(tunnel_types)
                if external_ids is not None:
                    chassis.external_ids = dict(external_ids)
                if parsed is not None:
                    chassis.service_status = parsed
                if chassis.heartbeat_at is None or chassis.heartbeat_at < now:
                    chassis.heartbeat_at = now
                chassis.report_interval = interval
                await repo.save(chassis)
                if changed:
                    uow.emit(self._change_event("update", chassis, old_ip))
            await uow.commit()
        await self._tell_watcher([(name, now)])
        return chassis, created, interval

    def _change_event(self, action: str, c: Chassis, old_ip: str | None) -> Envelope:
        traits: dict[str, Any] = {
            "host": c.name,
            "chassis": c.name,
            "ip": c.ip,
            "tunnel_types": ",".join(c.tunnel_types),
        }
        if action == "update":
            traits["old_ip"] = old_ip
        return Envelope(
            event_type=f"chassis.{action}",
            publisher_id=PUBLISHER,
            resource_id=c.name,
            traits=traits,
            payload={"chassis": _event_view(c)},
        )

    async def _tell_watcher(self, pairs: list[tuple[str, datetime]]) -> None:
        try:
            await self.bus.send(
                BEATS_SUBJECT, json.dumps([[n, t.timestamp()] for n, t in pairs]).encode()
            )
        except Exception:
            log.warning("could not forward a registration to the watcher")

    async def report(self, name: str, services: dict[str, Any] | None) -> None:
        """A heartbeat received over HTTP: absorbed with the batch; 404 for an unknown chassis."""
        _services(services)  # validate before queueing
        future = self.absorber.submit(name, services, "http")
        assert future is not None
        if not await future:
            raise NotFound(f"Chassis {name} is not registered.", kind="ChassisNotFound")

    async def get(self, name: str) -> Chassis:
        async with self.store.uow(readonly=True) as uow:
            chassis = await ChassisRepository(uow).get(name)
        if chassis is None:
            raise NotFound(f"Chassis {name} could not be found.", kind="ChassisNotFound")
        return chassis

    async def list(self, status: str | None = None) -> list[Chassis]:
        async with self.store.uow(readonly=True) as uow:
            items = await ChassisRepository(uow).list()
        if status is None:
            return items
        now = self.now()
        return [c for c in items if c.status(now, self.down_time) == status]

    async def delete(self, name: str, *, force: bool = False) -> Chassis:
        """Delete a chassis; an active one only with ``force``. Emits ``chassis.delete``."""
        async with self.store.uow() as uow:
            repo = ChassisRepository(uow)
            chassis = await repo.get(name)
            if chassis is None:
                raise NotFound(f"Chassis {name} could not be found.", kind="ChassisNotFound")
            if chassis.is_active(self.now(), self.down_time) and not force:
                raise Conflict(
                    f"Chassis {name} is active (last report "
                    f"{chassis.last_seen_age(self.now()):.1f}s ago); use force to delete it.",
                    kind="ChassisInUse",
                )
            await repo.delete(name)
            uow.emit(self._change_event("delete", chassis, None))
            await uow.commit()
        self.watcher.forget(name)
        return chassis

    async def clean_stale(
        self, older_than: float, *, dry_run: bool = False
    ) -> builtins.list[Chassis]:
        """Delete every down chassis whose last report is older than ``older_than`` seconds."""
        now = self.now()
        cutoff = now - timedelta(seconds=older_than)
        stale = [
            c for c in await self.list("down") if c.heartbeat_at is None or c.heartbeat_at <= cutoff
        ]
        if dry_run:
            return stale
        removed = []
        for chassis in stale:
            try:
                removed.append(await self.delete(chassis.name))
            except (Conflict, NotFound):
                continue  # it came back, or someone else removed it
        return removed

    async def set_agent_admin_state(self, name: str, binary: str | None, up: bool) -> Chassis:
        """``openstack network agent set --enable/--disable`` on a chassis' agent or service."""
        async with self.store.uow() as uow:
            repo = ChassisRepository(uow)
            chassis = await repo.get(name)
            if chassis is None:
                raise NotFound(f"Chassis {name} could not be found.", kind="ChassisNotFound")
            if binary is None:
                chassis.admin_state_up = up
            else:
                disabled = set(chassis.disabled_agents)
                (disabled.discard if up else disabled.add)(binary)
                chassis.disabled_agents = sorted(disabled)
            await repo.save(chassis)
            await uow.commit()
        return chassis


def server_chassis_name(config: LivenessConfig) -> str:
    return config.server_chassis or socket.gethostname()


class ServerServices:
    """Services configured to run beside ``stateward serve`` (seed 000): supervised like the
    agent's, and reported under the server's own chassis (``[liveness] server_chassis``)."""

    def __init__(self, liveness: LivenessService, settings: Any) -> None:
        from stateward.agent.process import ProcessMonitor

        self.liveness = liveness
        self.name = server_chassis_name(liveness.config)
        self.ip = settings.server.host
        self.monitor = ProcessMonitor(list(liveness.config.services), self._changed)
        self._changed_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _changed(self) -> None:
        self._changed_event.set()

    async def start(self) -> None:
        await self.monitor.start()
        self._task = asyncio.create_task(self._report(), name="server-services")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.monitor.stop()
        with contextlib.suppress(Exception):
            await self.liveness.register(self.name, self.ip, services=self.monitor.statuses())

    async def _report(self) -> None:
        interval = self.liveness.config.report_interval
        registered = False
        while True:
            try:
                if not registered:
                    await self.liveness.register(
                        self.name, self.ip, services=self.monitor.statuses()
                    )
                    registered = True
                else:
                    self.liveness.absorber.submit(self.name, self.monitor.statuses(), "local")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not report the server's services")
            self._changed_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed_event.wait(), timeout=interval)
