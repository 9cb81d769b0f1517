"""The fault benchmark: a host fails; how long until the consumer has every server's alarm?

Each run registers fresh hosts, each with ``vms`` servers and one port per server, creates one
Doctor-style event alarm per server (``compute.instance.update`` with ``traits.instance_id`` and
``traits.state = error``, a webhook to the consumer this benchmark runs), injects the fault and
measures, from the moment the fault was detected, when the consumer received each alarm (the
first and the host's last one). Fault sources:

* ``monitor`` — a monitor's raw failure (``PUT /v1/inspector/events``); detected = when the
  monitor sent it (its event ``time``, also the profile's T00);
* ``agent`` — a real ``stateward agent`` per host is killed (SIGKILL); detected = when liveness
  declared the chassis down (the profile's T01); the delay after the agent's last heartbeat is
  reported beside it;
* ``doctor`` — the in-run baseline: Doctor's sample inspector behaviour driven against our own
  API on processes configured like upstream Nova (``host_down_server_state = unchanged``): list
  the host's servers, force the compute service down (microversion 2.34), then one
  ``os-resetState`` per server, in parallel threads; detected = when it starts.

Everything runs as real processes (``stateward serve`` processes, agents) with the consumer in this
process, so the figures include HTTP, the store, the bus, the webhook and the consumer's post-back.

Beside the latencies each run records the servers' CPU time from the fault until the last alarm
was received (every thread of every server process, ``/proc/<pid>/stat``), divided
by the alarms: the **per-alarm CPU cost** (an upper bound: the host transaction's fixed cost is
in it too), and the notifier's retried attempts (its ``/metrics``). ``--receiver plain`` sends the
webhooks to a single-threaded ``http.server`` with the default listen backlog of 5 instead of
the asyncio consumer; ``--profile DIR`` records each run's fault window with py-spy and writes
a summary of where the servers' CPU went.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from stateward.bench.cluster import Cluster, Process
from stateward.bench.cpu import PySpy, notifier_counts, process_cpu_seconds, summarise_profiles
from stateward.profiler.model import MODULES, Profile
from stateward.testing.consumer import Consumer, PlainReceiver

DOCTOR_PUBLISHED = (
    ("Doctor, 50 VMs, with the shortcut (published)", 0.584),
    ("Doctor, 50 VMs, conservative (published)", 1.961),
)
DOCTOR_CRITERION_S = 1.0
# Agents report every 0.2 s; 1 s without a report is down (short enough for many runs, long
# enough that a loaded machine does not miss a deadline by accident: a false chassis.down
# forces the host down, and nothing comes back by itself).
FAST_LIVENESS = {
    "STATEWARD_LIVENESS__REPORT_INTERVAL": "0.2",
    "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "1.0",
}
QUIET_LIVENESS = {"STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "3600"}

Progress = Callable[[str], None]


@dataclass
class Run:
    source: str
    host: str
    vms: int
    detected: float  # epoch seconds
    first: float  # seconds from detected to the first alarm received
    last: float  # ... to the host's last alarm received
    alarms: int
    trace_id: str | None = None
    after_heartbeat: float | None = None  # agent source: last heartbeat -> declared down
    after_deadline: float | None = None  # agent source: deadline -> declared down
    modules: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    each: list[float] = field(default_factory=list)  # every alarm: seconds from detected
    cpu_per_alarm: float | None = None  # servers' CPU seconds, fault -> last alarm, / alarms
    retries: float = 0.0  # notifier attempts retried during the run (all servers)
    connections: int | None = None  # TCP connections the plain receiver accepted


@dataclass
class Series:
    name: str
    label: str
    runs: list[Run] = field(default_factory=list)
    failed: int = 0  # runs that did not complete (reported, not hidden)

    def values(self, what: str = "last") -> list[float]:
        return [getattr(r, what) for r in self.runs if getattr(r, what) is not None]

    def stats(self, what: str = "last") -> dict[str, float]:
        v = self.values(what)
        if not v:
            return {}
        return {
            "n": len(v),
            "p50": pct(v, 50),
            "p95": pct(v, 95),
            "p99": pct(v, 99),
            "max": max(v),
            "mean": statistics.mean(v),
        }

    def each_alarm(self) -> dict[str, float]:
        """Percentiles over every alarm of every run (not only the host's last)."""
        v = [x for r in self.runs for x in r.each]
        if not v:
            return {}
        return {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99)}

    def passed(self) -> int:
        return sum(1 for r in self.runs if r.last < DOCTOR_CRITERION_S)

    def module_medians(self) -> dict[str, float]:
        out = {}
        for m in MODULES:
            v = [x for r in self.runs if (x := r.modules.get(m.name)) is not None]
            if v:
                out[m.name] = statistics.median(v)
        return out


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 30 runs is the largest but none)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))
    return ordered[int(k)]


class Driver:
    """Populates hosts and injects faults against one cluster, with one consumer."""

    def __init__(self, cluster: Cluster, action_url: str, *, concurrency: int = 16) -> None:
        self.cluster = cluster
        self.action_url = action_url
        self.concurrency = concurrency
        self.client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64))
        self.network_id: str | None = None
        self._rr = 0

    async def close(self) -> None:
        await self.client.aclose()

    def next_url(self) -> str:
        urls = self.cluster.urls
        self._rr += 1
        return urls[self._rr % len(urls)]

    async def headers(self, mv: str | None = None) -> dict[str, str]:
        h = {"X-Auth-Token": await self.cluster.token()}
        if mv:
            h["OpenStack-API-Version"] = f"compute {mv}"
        return h

    async def call(
        self, method: str, path: str, expect: int, mv: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        for attempt in range(8):
            r = await self.client.request(
                method, self.next_url() + path, headers=await self.headers(mv), **kw
            )
            # a concurrent port creation can lose an IP allocation race (409, "retry"), as
            # with Neutron: the client retries
            if not (r.status_code == 409 and "retry" in r.text and attempt < 7):
                break
            await asyncio.sleep(0.01 * (attempt + 1))
        if r.status_code != expect:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else {}

    async def lift_quotas(self) -> None:
        """Thousands of servers and ports in the admin project: beyond Nova's and Neutron's
        default limits, so lift them as an operator would (``openstack quota set``)."""
        token = await self.cluster.token()
        r = await self.client.get(
            f"{self.cluster.url}/identity/v3/auth/tokens",
            headers={"X-Auth-Token": token, "X-Subject-Token": token},
        )
        r.raise_for_status()
        project = r.json()["token"]["project"]["id"]
        unlimited = {"instances": -1, "cores": -1, "ram": -1}
        await self.call(
            "PUT", f"/compute/v2.1/os-quota-sets/{project}", 200, json={"quota_set": unlimited}
        )
        await self.call(
            "PUT", f"/networking/v2.0/quotas/{project}", 200, json={"quota": {"port": -1}}
        )

    async def network(self) -> str:
        if self.network_id is None:
            await self.lift_quotas()
            net = await self.call(
                "POST", "/networking/v2.0/networks", 201, json={"network": {"name": "bench"}}
            )
            self.network_id = str(net["network"]["id"])
            await self.call(
                "POST",
                "/networking/v2.0/subnets",
                201,
                json={
                    "subnet": {
                        "network_id": self.network_id,
                        "cidr": "10.128.0.0/9",
                        "ip_version": 4,
                    }
                },
            )
        return self.network_id

    async def register_chassis(self, host: str, ip: str) -> None:
        await self.call("PUT", f"/v1/chassis/{host}", 201, json={"chassis": {"ip": ip}})

    async def wait_chassis(self, host: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = await self.client.get(
                f"{self.cluster.url}/v1/chassis/{host}", headers=await self.headers()
            )
            if r.status_code == 200 and r.json()["chassis"]["status"] == "active":
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"chassis {host} did not register")

    async def populate(self, host: str, vms: int) -> list[str]:
        """``vms`` servers with a port each and one event alarm per server; the server ids."""
        network = await self.network()
        sem = asyncio.Semaphore(self.concurrency)

        async def one(i: int) -> str:
            async with sem:
                server = await self.call(
                    "POST",
                    "/compute/v2.1/servers",
                    202,
                    mv="2.74",
                    json={
                        "server": {
                            "name": f"{host}-vm{i}",
                            "flavorRef": "2",
                            "host": host,
                        }
                    },
                )
                sid = str(server["server"]["id"])
                await self.call(
                    "POST",
                    "/networking/v2.0/ports",
                    201,
                    json={
                        "port": {
                            "network_id": network,
                            "name": f"{host}-vm{i}-p",
                            "device_id": sid,
                            "device_owner": "compute:nova",
                            "binding:host_id": host,
                        }
                    },
                )
                await self.call(
                    "POST",
                    "/v2/alarms",
                    201,
                    json={
                        "name": f"{host}-vm{i}-error",
                        "type": "event",
                        "event_rule": {
                            "event_type": "compute.instance.update",
                            "query": [
                                {
                                    "field": "traits.instance_id",
                                    "op": "eq",
                                    "value": sid,
                                    "type": "string",
                                },
                                {
                                    "field": "traits.state",
                                    "op": "eq",
                                    "value": "error",
                                    "type": "string",
                                },
                            ],
                        },
                        "alarm_actions": [self.action_url],
                        "repeat_actions": False,
                        "severity": "critical",
                    },
                )
                return sid

        return list(await asyncio.gather(*(one(i) for i in range(vms))))

    async def raw_failure(self, hosts: list[str]) -> float:
        """A monitor's ``compute.host.down`` for ``hosts``; returns when it was sent."""
        detected = time.time()
        stamp = datetime.fromtimestamp(detected, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        body = [
            {
                "id": str(uuid.uuid4()),
                "time": stamp,
                "type": "compute.host.down",
                "details": {
                    "hostname": host,
                    "status": "down",
                    "monitor": "stateward-bench",
                    "monitor_event_id": str(uuid.uuid4()),
                },
            }
            for host in hosts
        ]
        r = await self.client.put(
            self.next_url() + "/v1/inspector/events", json=body, headers=await self.headers()
        )
        if r.status_code != 200:
            raise RuntimeError(f"inspector: {r.status_code} {r.text[:300]}")
        return detected

    async def profile(self, trace_id: str, *, complete: bool = True, timeout: float = 5) -> Profile:
        """The stored profile (waiting for the recorders' batches and the consumer's post-back)."""
        deadline = time.monotonic() + timeout
        profile = Profile(trace_id)
        while time.monotonic() < deadline:
            r = await self.client.get(
                f"{self.cluster.url}/v1/profiles/{trace_id}", headers=await self.headers()
            )
            if r.status_code == 200:
                profile = Profile.from_export(r.json()["profile"])
                if profile.complete or not complete:
                    return profile
            await asyncio.sleep(0.05)
        return profile


def doctor_sample_inspector(base: str, token: str, host: str, threads: int) -> float:
    """Doctor's sample inspector against our API, in threads; returns when it started."""
    started = time.time()
    headers = {"X-Auth-Token": token}
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=base, headers=headers, timeout=60)
        c: httpx.Client = local.c
        return c

    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        servers = c.get(
            "/compute/v2.1/servers/detail", params={"all_tenants": "True", "host": host}
        )
        ids = [s["id"] for s in servers.json()["servers"] if s["OS-EXT-SRV-ATTR:host"] == host]

        def force_down() -> None:
            r = client().put(
                "/compute/v2.1/os-services/force-down",
                json={"host": host, "binary": "nova-compute", "forced_down": True},
                headers={"OpenStack-API-Version": "compute 2.34"},
            )
            assert r.status_code == 200, r.text

        def reset(sid: str) -> None:
            r = client().post(
                f"/compute/v2.1/servers/{sid}/action", json={"os-resetState": {"state": "error"}}
            )
            assert r.status_code == 202, r.text

        with ThreadPoolExecutor(max_workers=min(threads, len(ids) + 1)) as pool:
            futures = [pool.submit(force_down)] + [pool.submit(reset, i) for i in ids]
            for f in futures:
                f.result()
    return started


async def run_series(
    source: str,
    cluster: Cluster,
    *,
    hosts: int,
    vms: int,
    runs: int,
    warmup: int = 1,
    progress: Progress | None = None,
    threads: int = 50,
    receiver: str = "consumer",
    profile_dir: Path | None = None,
) -> Series:
    """``runs`` measured runs (after ``warmup``) of one fault source on one running cluster."""
    series = Series(source, cluster.label)
    await cluster.token()
    consumer: Consumer | PlainReceiver
    if receiver == "plain":
        consumer = PlainReceiver()
    else:
        consumer = Consumer(
            server_url=cluster.url, token=cluster.cached_token, name="bench-consumer"
        )
    await consumer.start()
    driver = Driver(cluster, consumer.url)
    pids = [s.popen.pid for s in cluster.servers]
    agents: list[Process] = []
    try:
        for i in range(warmup + runs):
            try:
                tag = uuid.uuid4().hex[:6]
                names = [f"{source}-r{i}-h{h}-{tag}" for h in range(hosts)]
                ips = [
                    f"198.18.{(i * hosts + h) // 250 % 250}.{(i * hosts + h) % 250 + 1}"
                    for h in range(hosts)
                ]
                if source == "agent":
                    agents = [cluster.start_agent(n, ip) for n, ip in zip(names, ips, strict=True)]
                    await asyncio.gather(*(driver.wait_chassis(n) for n in names))
                else:
                    await asyncio.gather(
                        *(driver.register_chassis(n, ip) for n, ip in zip(names, ips, strict=True))
                    )
                by_host = {n: await driver.populate(n, vms) for n in names}
                expected = {sid: n for n, sids in by_host.items() for sid in sids}
                await asyncio.sleep(
                    0.3 if cluster.processes > 1 else 0.05
                )  # alarm broadcasts settle
                consumer.clear()
                connections_before = getattr(consumer, "connections", None)
                spy = None
                if profile_dir is not None and i >= warmup:
                    spy = PySpy(pids[0], profile_dir / f"{cluster.backend}-{source}-run{i}.txt")
                    await spy.start()
                retries_before = await notifier_counts(driver.client, cluster.urls)
                cpu_before = process_cpu_seconds(pids)
                if source == "monitor":
                    detected = await driver.raw_failure(names)
                elif source == "agent":
                    for a in agents:
                        a.stop(signal.SIGKILL)
                    detected = 0.0  # from the profile (liveness declared the chassis down)
                else:
                    token = await cluster.token()
                    starts = await asyncio.gather(
                        *(
                            asyncio.to_thread(
                                doctor_sample_inspector, driver.next_url(), token, n, threads
                            )
                            for n in names
                        )
                    )
                    detected = min(starts)

                def got_all(alarms: list[Any], names: list[str] = names) -> bool:
                    names_seen = {a.alarm_name for a in alarms}
                    return all(f"{n}-vm{j}-error" in names_seen for n in names for j in range(vms))

                alarms = await consumer.wait_for(got_all, timeout=60 + vms * 0.05)
                cpu = process_cpu_seconds(pids) - cpu_before
                if spy is not None:
                    await spy.stop()
                retries = (await notifier_counts(driver.client, cluster.urls)) - retries_before
                mine = [a for a in alarms if a.alarm_name.rsplit("-vm", 1)[0] in by_host]
                for host in names:
                    host_alarms = [a for a in mine if a.alarm_name.startswith(host + "-vm")]
                    trace_id = next((a.trace_id for a in host_alarms if a.trace_id), None)
                    run = Run(
                        source,
                        host,
                        vms,
                        detected,
                        0.0,
                        0.0,
                        len(host_alarms),
                        trace_id,
                    )
                    profile = (
                        await driver.profile(trace_id, complete=receiver != "plain")
                        if trace_id
                        else None
                    )
                    if source == "agent" and profile is not None:
                        t01 = profile.checkpoints.get("T01")
                        t00 = profile.checkpoints.get("T00")
                        last_seen = (profile.checkpoint_meta.get("T00") or {}).get("last_seen")
                        run.detected = t01 or 0.0
                        if t01 and t00:
                            run.after_deadline = t01 - t00
                        if t01 and last_seen:
                            run.after_heartbeat = (
                                t01 - datetime.fromisoformat(last_seen).timestamp()
                            )
                    run.cpu_per_alarm = cpu / max(1, len(mine))
                    run.retries = retries
                    if connections_before is not None:
                        run.connections = getattr(consumer, "connections", 0) - connections_before
                    run.each = sorted(a.received - run.detected for a in host_alarms)
                    run.first, run.last = run.each[0], run.each[-1]
                    if profile is not None:
                        run.modules = {s.module.name: s.ms for s in profile.module_spans()}
                        run.problems = profile.problems()
                    if i >= warmup:
                        series.runs.append(run)
                    if progress:
                        progress(
                            f"{source:8s} run {i + 1 - warmup:>3}/{runs} {host}: last alarm "
                            f"{run.last * 1000:7.1f} ms, first {run.first * 1000:6.1f} ms, "
                            f"cpu/alarm {(run.cpu_per_alarm or 0) * 1000:.2f} ms, "
                            f"retries {run.retries:.0f}"
                            + (
                                f", connections {run.connections}"
                                if run.connections is not None
                                else ""
                            )
                            + (" (warm-up)" if i < warmup else "")
                            + "  "
                            + " ".join(
                                f"{k} {v:.1f}" for k, v in run.modules.items() if v is not None
                            )
                        )
                assert len(mine) == len(expected), (len(mine), len(expected))
                await consumer.drain()
            except (Exception, TimeoutError) as exc:  # an overloaded machine: note it, go on
                series.failed += 1
                if progress:
                    progress(f"{source:8s} run {i + 1 - warmup:>3}/{runs} FAILED: {exc!r:.200}")
                await asyncio.sleep(1.0)
    finally:
        for a in agents:
            a.stop()
        await consumer.stop()
        await driver.close()
    return series


# -- the report -------------------------------------------------------------------------------


def targets_for(vms: int, backend: str) -> float | None:
    """The issue's targets: p99 < 50 ms (embedded) / 100 ms (PostgreSQL + NATS) for 50 VMs,
    < 250 ms for 1,000 VMs; other sizes have none."""
    if vms == 1000:
        return 0.250
    if vms == 50:
        return 0.050 if backend == "embedded" else 0.100
    return None


def report_text(results: list[tuple[str, int, Series]], vms: int, hosts: int) -> str:
    """The table (ms), the profiler breakdown and Doctor's published figures."""
    lines = [
        f"Fault -> consumer has every alarm: {hosts} host(s) x {vms} VMs, one alarm per VM "
        f"(n = runs x hosts; ms from detection to the host's last alarm)",
        "",
        f"{'backend':<34} {'source':<8} {'n':>4} {'p50':>8} {'p95':>8} {'p99':>8} "
        f"{'max':>8} {'first p50':>9} {'<1s':>7} {'target p99':>10}",
    ]
    for backend, _procs, s in results:
        st = s.stats("last")
        if not st:
            continue
        first = s.stats("first")
        kind = "embedded" if backend.startswith("embedded") else "pg-nats"
        target = targets_for(vms, kind) if s.name != "doctor" else None
        verdict = ""
        if target is not None:
            verdict = f"{target * 1000:.0f} ms " + ("met" if st["p99"] < target else "MISSED")
        lines.append(
            f"{backend:<34.34} {s.name:<8} {int(st['n']):>4} {st['p50'] * 1000:>7.1f}  "
            f"{st['p95'] * 1000:>7.1f}  {st['p99'] * 1000:>7.1f}  {st['max'] * 1000:>7.1f}  "
            f"{first['p50'] * 1000:>8.1f}  {s.passed():>3}/{len(s.runs):<3} {verdict:>10}"
        )
        cpu = s.stats("cpu_per_alarm")
        if cpu:
            lines.append(
                f"{'':<34} {'':<8} server CPU per alarm: p50 {cpu['p50'] * 1000:.3f} ms, "
                f"p95 {cpu['p95'] * 1000:.3f} ms (servers, fault -> last alarm, "
                f"/ alarms); notifier retries {sum(r.retries for r in s.runs):.0f}"
                + (
                    f"; receiver connections p50 {statistics.median(conns):.0f}"
                    if (conns := [r.connections for r in s.runs if r.connections is not None])
                    else ""
                )
            )
        if s.failed:
            lines.append(f"{'':<34} {'':<8} runs that did not complete (timed out): {s.failed}")
        each = s.each_alarm()
        if each:
            lines.append(
                f"{'':<34} {'':<8} each alarm ({int(each['n'])}): p50 {each['p50'] * 1000:.1f} ms,"
                f" p95 {each['p95'] * 1000:.1f} ms, p99 {each['p99'] * 1000:.1f} ms"
            )
        if s.name == "agent":
            hb = s.stats("after_heartbeat")
            dl = s.stats("after_deadline")
            if hb and dl:
                lines.append(
                    f"{'':<34} {'':<8} declared down after the last heartbeat: p50 "
                    f"{hb['p50'] * 1000:.0f} ms (chassis_down_time + {dl['p50'] * 1000:.1f} ms, "
                    f"p99 +{dl['p99'] * 1000:.1f} ms)"
                )
    for name, seconds in DOCTOR_PUBLISHED:
        lines.append(f"{name:<44} {seconds * 1000:>7.0f} ms (published, not measured here)")
    lines.append("")
    # ratios against the in-run baseline, per backend
    by_backend: dict[str, dict[str, Series]] = {}
    for backend, _procs, s in results:
        by_backend.setdefault(backend, {})[s.name] = s
    for backend, series in by_backend.items():
        base = series.get("doctor")
        if base is None or not base.runs:
            continue
        for name, s in series.items():
            if name == "doctor" or not s.runs:
                continue
            b, m = base.stats("last"), s.stats("last")
            lines.append(
                f"ratio doctor-sample / stateward {name} on {backend}: p50 "
                f"{b['p50'] / m['p50']:.1f}x, p99 {b['p99'] / m['p99']:.1f}x"
            )
            bc, mc = base.stats("cpu_per_alarm"), s.stats("cpu_per_alarm")
            if bc and mc and mc["p50"] > 0:
                lines.append(
                    f"ratio of server CPU per alarm, doctor-sample / stateward {name} on "
                    f"{backend}: {bc['p50'] / mc['p50']:.1f}x"
                )
    lines.append("")
    lines.append("Profiler breakdown (median ms per module over the runs, first alarm's path):")
    header = f"{'backend':<34} {'source':<8} " + " ".join(f"{m.name:>10}" for m in MODULES)
    lines.append(header)
    for backend, _procs, s in results:
        med = s.module_medians()
        if not med:
            continue
        total = sum(med.values()) or 1.0
        lines.append(
            f"{backend:<34.34} {s.name:<8} "
            + " ".join(
                f"{med[m.name]:>6.1f} {100 * med[m.name] / total:>2.0f}%"
                if m.name in med
                else f"{'-':>10}"
                for m in MODULES
            )
        )
    return "\n".join(lines)


def results_json(results: list[tuple[str, int, Series]], vms: int, hosts: int) -> dict[str, Any]:
    return {
        "vms": vms,
        "hosts": hosts,
        "published": dict(DOCTOR_PUBLISHED),
        "series": [
            {
                "backend": backend,
                "processes": procs,
                "source": s.name,
                "last": s.stats("last"),
                "first": s.stats("first"),
                "each_alarm": s.each_alarm(),
                "after_heartbeat": s.stats("after_heartbeat"),
                "after_deadline": s.stats("after_deadline"),
                "passed_1s": s.passed(),
                "failed_runs": s.failed,
                "cpu_per_alarm": s.stats("cpu_per_alarm"),
                "retries": sum(r.retries for r in s.runs),
                "modules_median_ms": s.module_medians(),
                "runs": [asdict(r) for r in s.runs],
            }
            for backend, procs, s in results
        ],
    }


async def bench(
    *,
    backends: list[str],
    sources: list[str],
    hosts: int,
    vms: int,
    runs: int,
    warmup: int = 1,
    processes: int = 2,
    pg: str | None = None,
    nats: str | None = None,
    baseline: bool = True,
    progress: Progress | None = None,
    receiver: str = "consumer",
    profile_dir: Path | None = None,
) -> list[tuple[str, int, Series]]:
    results: list[tuple[str, int, Series]] = []
    plan = [*sources, *(["doctor"] if baseline else [])]
    for backend in backends:
        procs = 1 if backend == "embedded" else processes
        for source in plan:
            env = dict(FAST_LIVENESS if source == "agent" else QUIET_LIVENESS)
            if source == "doctor":
                env["STATEWARD_COMPUTE__HOST_DOWN_SERVER_STATE"] = "unchanged"
                env["STATEWARD_INSPECTOR__PORT_DATA_PLANE_DOWN"] = "false"
            kw: dict[str, Any] = {}
            if pg:
                kw["pg"] = pg
            if nats:
                kw["nats"] = nats
            cluster = Cluster(backend, procs, env=env, **kw)
            if progress:
                progress(f"starting {cluster.label} for the {source} source")
            async with cluster:
                series = await run_series(
                    source,
                    cluster,
                    hosts=hosts,
                    vms=vms,
                    runs=runs,
                    warmup=warmup,
                    progress=progress,
                    receiver=receiver,
                    profile_dir=profile_dir,
                )
            results.append((cluster.label, procs, series))
    if profile_dir is not None:
        summary = summarise_profiles(sorted(profile_dir.glob("*-run*.txt")))  # noqa: ASYNC240
        (profile_dir / "summary.txt").write_text(summary)
        if progress:
            progress(summary)
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--vms", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--backend", choices=["embedded", "pg-nats", "both"], default="embedded")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--source", choices=["monitor", "agent", "both"], default="both")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--pg", default=None)
    parser.add_argument("--nats", default=None)
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--receiver",
        choices=["consumer", "plain"],
        default="consumer",
        help="consumer: the asyncio consumer; plain: a single-threaded http.server, backlog 5",
    )
    parser.add_argument(
        "--profile", default=None, help="record each run's fault window with py-spy into DIR"
    )
    args = parser.parse_args(argv)
    profile_dir = Path(args.profile) if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    backends = ["embedded", "pg-nats"] if args.backend == "both" else [args.backend]
    sources = ["monitor", "agent"] if args.source == "both" else [args.source]
    results = asyncio.run(
        bench(
            backends=backends,
            sources=sources,
            hosts=args.hosts,
            vms=args.vms,
            runs=args.runs,
            warmup=args.warmup,
            processes=args.processes,
            pg=args.pg,
            nats=args.nats,
            baseline=not args.no_baseline,
            progress=None if args.quiet else lambda m: print(m, flush=True),
            receiver=args.receiver,
            profile_dir=profile_dir,
        )
    )
    print()
    print(report_text(results, args.vms, args.hosts))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results_json(results, args.vms, args.hosts), f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
