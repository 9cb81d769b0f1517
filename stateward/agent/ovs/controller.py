"""The chassis agent as local SDN controller: feed + switch ports -> pipeline -> flows.

A level-triggered reconcile loop. Whatever happens (a feed change, an ofport appearing, a
resync timer, a reconnect), the loop computes the desired flows of what is dirty from the local
cache, compares them with the flows installed, and applies the difference in one atomic bundle:

* **incremental** (feed changes, ofport changes): only the cookies of the objects concerned are
  recomputed and compared with the agent's record of what it installed;
* **full** (start, every ``resync_interval``, after a reconnect or a failed bundle): the
  installed flows are read back from the switch and the whole table is compared, so flows
  deleted (or added) behind the agent's back are put right within one resync period.

A restart therefore re-reads, diffs and replaces; it never flushes the table, and flows that
are already right are not touched at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from stateward.agent.feed import FeedClient, FeedUpdate
from stateward.agent.ovs.flows import Flow, FlowDiff, FlowKey, diff
from stateward.agent.ovs.openflow import OpenFlowConnection, OpenFlowError
from stateward.agent.ovs.ovsdb import OvsdbSwitch
from stateward.agent.ovs.pipeline import Pipeline, SwitchPorts

log = logging.getLogger(__name__)

FLOWS = Gauge("stateward_agent_flows_installed", "Flows on the integration bridge")
RECONCILE = Histogram(
    "stateward_agent_reconcile_seconds",
    "Time to compute and apply the flow difference",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FLOW_CHANGES = Counter("stateward_agent_flow_changes_total", "Flow adds and deletes", ["op"])
FAILURES = Counter("stateward_agent_reconcile_failures_total", "Reconciles that failed")


@dataclass
class Dirty:
    """What must be recomputed: everything, or these ports and networks."""

    full: bool = True
    ports: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return self.full or bool(self.ports or self.networks)

    def take(self) -> Dirty:
        taken = Dirty(self.full, self.ports, self.networks)
        self.full, self.ports, self.networks = False, set(), set()
        return taken


@dataclass
class Installed:
    """The agent's record of the flows on the switch, by key and by cookie."""

    flows: dict[FlowKey, Flow] = field(default_factory=dict)
    cookies: dict[int, set[FlowKey]] = field(default_factory=dict)

    def reset(self, flows: Iterable[Flow]) -> None:
        self.flows, self.cookies = {}, {}
        for flow in flows:
            self._add(flow)

    def _add(self, flow: Flow) -> None:
        old = self.flows.get(flow.key)
        if old is not None:
            self.cookies.get(old.cookie, set()).discard(flow.key)
        self.flows[flow.key] = flow
        self.cookies.setdefault(flow.cookie, set()).add(flow.key)

    def of(self, cookies: Iterable[int]) -> list[Flow]:
        return [self.flows[k] for c in cookies for k in self.cookies.get(c, ())]

    def apply(self, changes: FlowDiff) -> None:
        for flow in changes.delete:
            self.flows.pop(flow.key, None)
            self.cookies.get(flow.cookie, set()).discard(flow.key)
        for flow in changes.add:
            self._add(flow)


class LocalController:
    def __init__(
        self,
        *,
        chassis: str,
        local_ip: str,
        tunnel_types: list[str],
        feed: FeedClient,
        switch: OvsdbSwitch,
        openflow: OpenFlowConnection,
        resync_interval: float = 60.0,
        run_feed: bool = True,
    ) -> None:
        self.chassis = chassis
        self.local_ip = local_ip
        self.tunnel_types = tunnel_types
        self.feed = feed
        self.switch = switch
        self.openflow = openflow
        self.resync_interval = resync_interval
        self.run_feed = run_feed  # False: the feed is shared with other roles, run by the agent
        self.pipeline = Pipeline(chassis, local_ip)
        self.ports = SwitchPorts()
        self.installed = Installed()
        self.dirty = Dirty()
        self._wake = asyncio.Event()
        self._owners: dict[int, tuple[str, str]] = {}  # cookie -> (kind, id), to clear deletes
        self._network_of: dict[str, str] = {}  # port id -> network id, for deletes
        self.reconciled = asyncio.Event()  # set after each successful reconcile
        self.reconciles = 0
        feed.add_handler(self.on_feed)

    # inputs ------------------------------------------------------------------------------
    async def on_feed(self, update: FeedUpdate) -> None:
        cache = update.cache
        if update.resynced:
            self.dirty.full = True
            self._network_of = {k: p["network_id"] for k, p in cache.of("port").items()}
        for change in update.changes:
            if change.kind == "port":
                self.dirty.ports.add(change.key)
                network = (change.data or {}).get("network_id") or self._network_of.get(change.key)
                if network:
                    self.dirty.networks.add(network)
                    self._network_of[change.key] = network
            elif change.kind == "network":
                self.dirty.networks.add(change.key)
                self.dirty.ports |= {k for k, n in self._network_of.items() if n == change.key}
            elif change.kind == "chassis":
                for key, port in cache.of("port").items():
                    if port.get("chassis") == change.key:
                        self.dirty.ports.add(key)
                        self.dirty.networks.add(port["network_id"])
        self._wake.set()

    def _switch_changed(self) -> None:
        ports = self.switch.ports()
        if ports.tunnels != self.ports.tunnels:
            self.dirty.full = True
        else:
            moved = {
                k
                for k in set(ports.interfaces) | set(self.ports.interfaces)
                if ports.interfaces.get(k) != self.ports.interfaces.get(k)
            }
            self.dirty.ports |= moved
            for key in moved:
                port = self.feed.cache.get("port", key)
                if port is not None:
                    self.dirty.networks.add(port["network_id"])
        self.ports = ports

    # the loop ----------------------------------------------------------------------------
    async def setup(self) -> None:
        """Bridge and tunnel ports in OVSDB, then the OpenFlow connection."""
        await self.switch.start()
        await self.switch.ensure_bridge()
        report = await self.switch.ensure_tunnel_ports(self.tunnel_types, self.local_ip)
        if report.added or report.updated or report.removed:
            log.info(
                "tunnel ports",
                extra={"added": report.added, "updated": report.updated, "removed": report.removed},
            )
        await self._await_tunnel_ofports()
        await self._connect()

    async def _await_tunnel_ofports(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.switch.changed.clear()
            self.ports = self.switch.ports()
            if all(t in self.ports.tunnels for t in self.tunnel_types):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.switch.changed.wait(), 0.5)
        log.warning("tunnel ports without an ofport", extra={"have": self.ports.tunnels})

    async def _connect(self) -> None:
        delay = 0.05
        while True:
            try:
                await self.openflow.connect()
                return
            except (OSError, OpenFlowError, TimeoutError) as exc:
                log.warning(
                    "OpenFlow connection failed; retrying",
                    extra={"path": self.openflow.path, "error": repr(exc)},
                )
                await self.openflow.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def run(self) -> None:
        await self.setup()
        feed_task = asyncio.create_task(self.feed.run(), name="feed") if self.run_feed else None
        try:
            await self.feed.synced.wait()
            await self._loop()
        finally:
            if feed_task is not None:
                feed_task.cancel()
                await asyncio.gather(feed_task, return_exceptions=True)
            await self.openflow.close()
            await self.switch.stop()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_resync = loop.time()
        while True:
            if self.openflow.lost.is_set():  # e.g. ovs-vswitchd restarted: its table is empty
                FAILURES.inc()
                await self.openflow.close()
                await self._connect()
                self.dirty.full = True
            if self.switch.changed.is_set():
                self.switch.changed.clear()
                self._switch_changed()
            if loop.time() >= next_resync:
                self.dirty.full = True
            if self.dirty:
                work = self.dirty.take()
                try:
                    await self.reconcile(work)
                except (OpenFlowError, OSError, TimeoutError) as exc:
                    FAILURES.inc()
                    log.warning("reconcile failed; reconnecting", extra={"error": repr(exc)})
                    self.dirty.full = True
                    await self.openflow.close()
                    await self._connect()
                    continue
                if work.full:
                    next_resync = loop.time() + self.resync_interval
            self._wake.clear()
            waits = {
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(self.switch.changed.wait()),
                asyncio.ensure_future(self.openflow.lost.wait()),
            }
            _, pending = await asyncio.wait(
                waits,
                timeout=max(0.0, next_resync - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in pending:
                task.cancel()

    async def reconcile(self, work: Dirty) -> FlowDiff:
        """Compute the desired flows of ``work``, compare, apply; returns what was applied."""
        started = time.perf_counter()
        cache = self.feed.cache
        if work.full:
            self.installed.reset(await self.openflow.dump_flows())
            self._owners = {}
            desired = self.pipeline.compute(cache, self.ports, owners=self._owners)
            changes = diff(
                (f for flows in desired.values() for f in flows), self.installed.flows.values()
            )
        else:
            owners: dict[int, tuple[str, str]] = {}
            desired = self.pipeline.compute(
                cache, self.ports, ports=work.ports, networks=work.networks, owners=owners
            )
            cookies = set(desired) | {
                c
                for c, (kind, key) in self._owners.items()
                if (kind == "port" and key in work.ports)
                or (kind == "network" and key in work.networks)
            }
            changes = diff(
                (f for c in cookies for f in desired.get(c, [])), self.installed.of(cookies)
            )
            self._owners.update(owners)
        if changes:
            await self.openflow.apply(changes)
            self.installed.apply(changes)
            FLOW_CHANGES.labels("add").inc(len(changes.add))
            FLOW_CHANGES.labels("delete").inc(len(changes.delete))
        FLOWS.set(len(self.installed.flows))
        elapsed = time.perf_counter() - started
        RECONCILE.labels("full" if work.full else "incremental").observe(elapsed)
        if changes or not self.reconciles:
            log.info(
                "flows reconciled",
                extra={
                    "kind": "full" if work.full else "incremental",
                    "added": len(changes.add),
                    "deleted": len(changes.delete),
                    "installed": len(self.installed.flows),
                    "ms": round(elapsed * 1000, 2),
                },
            )
        self.reconciles += 1
        self.reconciled.set()
        return changes
