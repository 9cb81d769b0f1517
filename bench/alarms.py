"""Event alarm evaluation: Stateward's index against a scan of the project's alarms (Aodh's way).

Loads N event alarms across P projects into a real store, starts the evaluator (which loads its
index from the store), then measures, in one process:

1. the evaluation step alone (index lookup + rule matching; no decoding, no store, no
   webhooks): events evaluated per second on one core, and per-event latency; next to it the
   same events through a scan-the-project's-alarms evaluator (every alarm of the event's
   project: fnmatch on its event type, then its query — what aodh's EventAlarmEvaluator does,
   minus its storage and logging), for the ratio;
2. the whole path, publish -> bus -> evaluator -> compare-and-set in the store -> notifier ->
   webhook received by a local HTTP server, one matching event at a time, with the index and
   then with the scan baseline plugged into the same evaluator.

    PYTHONPATH=. python bench/alarms.py                      # 100,000 alarms, 1,000 projects
    PYTHONPATH=. python bench/alarms.py --alarms 10000 --events 20000 --path-events 50   # quick

3. optionally (``--aodh-venv DIR``, a venv with bench/requirements-aodh.txt), one project with
   1,000 and 10,000 per-VM alarms: Stateward's index against aodh 23's own EventAlarmEvaluator
   (bench/alarms_aodh.py, run in that venv on the same generated alarms and events).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stateward.config import load_settings
from stateward.domain.alarm import (
    Alarm,
    CompiledAlarm,
    event_project,
    event_resources,
    parse_event_rule,
)
from stateward.domain.events import Envelope, utcnow
from stateward.runtime import Runtime
from stateward.services.alarm_index import AlarmIndex
from stateward.store.repositories.alarms import AlarmRepository

ADMIN_PROJECT = "admin-project"


class ScanIndex(AlarmIndex):
    """The baseline: every alarm of the event's project, checked one by one."""

    def __init__(self) -> None:
        super().__init__()
        self._lists: dict[str | None, dict[str, CompiledAlarm]] = {}

    def load(self, alarms: Iterable[Alarm]) -> None:
        self._lists = {}
        super().load(alarms)

    def upsert(self, alarm: Alarm) -> None:
        self._drop(alarm.alarm_id)
        super().upsert(alarm)
        c = self.by_id.get(alarm.alarm_id)
        if c is not None:
            self._lists.setdefault(alarm.project_id, {})[alarm.alarm_id] = c
            if alarm.admin:
                self._lists.setdefault(None, {})[alarm.alarm_id] = c

    def remove(self, alarm_id: str) -> None:
        self._drop(alarm_id)
        super().remove(alarm_id)

    def _drop(self, alarm_id: str) -> None:
        c = self.by_id.get(alarm_id)
        if c is not None:
            self._lists.get(c.alarm.project_id, {}).pop(alarm_id, None)
            self._lists.get(None, {}).pop(alarm_id, None)

    def matching(self, envelope: Envelope) -> list[CompiledAlarm]:
        alarms = self._lists.get(event_project(envelope), {}).values()
        event_type, traits = envelope.event_type, envelope.traits
        resources: set[str] | None = None
        hits = []
        for c in alarms:
            alarm = c.alarm
            if c.state == "alarm" and not alarm.repeat_actions:
                continue
            if not fnmatch.fnmatch(event_type, alarm.rule.event_type):
                continue
            if alarm.resource_id is not None:
                if resources is None:
                    resources = event_resources(envelope)
                if alarm.resource_id not in resources:
                    continue
            if c.query_matches(traits, envelope):
                hits.append(c)
        return hits


def project_scale(sizes: list[int], aodh_venv: str | None) -> None:
    """Section 3: one project with many alarms, Stateward's index vs aodh 23's evaluator."""
    import json
    import subprocess

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from alarm_scenario import scenario

    print("\n3) one project, N per-VM alarms: Stateward index vs aodh 23 EventAlarmEvaluator")
    aodh: dict[int, float] = {}
    if aodh_venv:
        script = Path(__file__).resolve().parent / "alarms_aodh.py"
        result = subprocess.run(
            [str(Path(aodh_venv) / "bin" / "python"), "-W", "ignore", str(script)]
            + [str(n) for n in sizes],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        for line in result.stdout.splitlines():
            if line.startswith("{"):
                data = json.loads(line)
                aodh[int(data["alarms"])] = float(data["per_second"])
        if not aodh:
            print(f"  aodh baseline did not run: {result.stderr.strip()[-500:]}")
    else:
        print("  (aodh 23 baseline skipped: give --aodh-venv DIR, see bench/requirements-aodh.txt)")
    now = utcnow()
    for size in sizes:
        raw_alarms, raw_events = scenario(size, 100_000)
        index = AlarmIndex()
        index.load(
            Alarm(
                alarm_id=a["alarm_id"],
                name=a["alarm_id"],
                project_id=a["project_id"],
                user_id="bench",
                rule=parse_event_rule({"event_type": a["event_type"], "query": a["query"]}),
                timestamp=now,
                state_timestamp=now,
                generation=1,
            )
            for a in raw_alarms
        )
        events = [
            Envelope(
                event_type=e["event_type"],
                publisher_id="bench",
                project_id=e["project_id"],
                message_id=e["message_id"],
                traits=e["traits"],
            )
            for e in raw_events
        ]
        ours = evaluation_step(index, events)["per_second"]
        line = f"  {size:>6,} alarms   Stateward {ours:>12,.0f} events/s (per CPU-second)"
        if size in aodh:
            line += f"   aodh 23 {aodh[size]:>10,.1f} events/s   ratio {ours / aodh[size]:>10,.0f}x"
        print(line)


def make_alarms(
    n_alarms: int, n_projects: int, action: str, rng: random.Random
) -> tuple[list[Alarm], dict[str, list[str]]]:
    """A Doctor-like mix; returns the alarms and, per project, the instance ids they watch."""
    now = utcnow()
    projects = [f"project-{i:04d}" for i in range(n_projects)]
    watched: dict[str, list[str]] = {p: [] for p in projects}
    alarms = []
    for i in range(n_alarms):
        project = projects[i % n_projects]
        kind = rng.random()
        instance = f"vm-{uuid.UUID(int=rng.getrandbits(128))}"
        resource_id = None
        event_type = "compute.instance.update"
        query: list[dict[str, str]] = [{"field": "traits.state", "op": "eq", "value": "error"}]
        if kind < 0.60:  # per-VM alarm: eq on traits.instance_id
            query.append({"field": "traits.instance_id", "op": "eq", "value": instance})
            watched[project].append(instance)
        elif kind < 0.75:  # the seed's resource_id
            resource_id = instance
            watched[project].append(instance)
        elif kind < 0.85:  # per-port data plane
            event_type = "port.update.end"
            query = [
                {"field": "traits.port_id", "op": "eq", "value": f"port-{i}"},
                {"field": "traits.data_plane_status", "op": "eq", "value": "DOWN"},
            ]
        elif kind < 0.95:  # by event type only
            event_type = rng.choice(["compute.instance.update", "compute.instance.delete.end"])
            query = [
                {"field": "traits.state", "op": "eq", "value": "error"},
                {"field": "traits.flavor", "op": "eq", "value": f"flavor-{rng.randrange(500)}"},
                {"field": "traits.vcpus", "op": "ge", "value": "64", "type": "integer"},
            ]
        else:  # wildcard
            event_type = "compute.instance.*"
            query = [
                {"field": "traits.image", "op": "eq", "value": f"image-{rng.randrange(500)}"},
                {"field": "traits.state", "op": "eq", "value": "deleted"},
            ]
        alarms.append(
            Alarm(
                alarm_id=str(uuid.UUID(int=rng.getrandbits(128))),
                name=f"alarm-{i}",
                project_id=project,
                user_id="bench",
                rule=parse_event_rule({"event_type": event_type, "query": query}),
                resource_id=resource_id,
                alarm_actions=(action,),
                timestamp=now,
                state_timestamp=now,
                generation=1,
            )
        )
    for i in range(min(100, n_alarms)):  # admin alarms on project-less infrastructure events
        alarms.append(
            Alarm(
                alarm_id=str(uuid.UUID(int=rng.getrandbits(128))),
                name=f"admin-{i}",
                project_id=ADMIN_PROJECT,
                user_id="bench",
                rule=parse_event_rule(
                    {
                        "event_type": "chassis.down",
                        "query": [{"field": "traits.host", "op": "eq", "value": f"compute-{i}"}],
                    }
                ),
                admin=True,
                alarm_actions=(action,),
                timestamp=now,
                state_timestamp=now,
                generation=1,
            )
        )
    return alarms, watched


def make_events(n: int, watched: dict[str, list[str]], rng: random.Random) -> list[Envelope]:
    projects = list(watched)
    events = []
    for _ in range(n):
        project = rng.choice(projects)
        roll = rng.random()
        if roll < 0.05:
            events.append(
                Envelope(
                    event_type="chassis.down",
                    publisher_id="bench",
                    traits={"host": f"compute-{rng.randrange(1000)}"},
                )
            )
            continue
        if roll < 0.20:
            events.append(
                Envelope(
                    event_type="port.update.end",
                    publisher_id="bench",
                    project_id=project,
                    traits={
                        "tenant_id": project,
                        "port_id": f"port-{rng.randrange(200_000)}",
                        "data_plane_status": rng.choice(["ACTIVE", "DOWN"]),
                    },
                )
            )
            continue
        instances = watched[project]
        instance = (
            rng.choice(instances)
            if instances and rng.random() < 0.3
            else f"vm-{uuid.UUID(int=rng.getrandbits(128))}"
        )
        events.append(
            Envelope(
                event_type=rng.choice(
                    ["compute.instance.update"] * 7 + ["compute.instance.delete.end"]
                ),
                publisher_id="bench",
                project_id=project,
                resource_id=instance,
                traits={
                    "tenant_id": project,
                    "instance_id": instance,
                    "state": rng.choice(["active", "active", "active", "error", "deleted"]),
                    "vcpus": rng.choice([2, 4, 8, 128]),
                    "flavor": f"flavor-{rng.randrange(500)}",
                    "image": f"image-{rng.randrange(500)}",
                    "host": f"compute-{rng.randrange(1000)}",
                },
            )
        )
    return events


def evaluation_step(index: AlarmIndex, events: list[Envelope]) -> dict[str, float]:
    matching = index.matching
    fired = 0
    started, cpu_started = time.perf_counter(), time.thread_time()
    for e in events:
        fired += len(matching(e))
    total = time.perf_counter() - started
    # CPU time of this thread: what one core does, whatever else the machine is running
    cpu = time.thread_time() - cpu_started
    # per-event latency, timed separately (the timer itself costs ~0.1 us)
    sample = events[: min(len(events), 20_000)]
    lat = []
    clock = time.perf_counter_ns
    for e in sample:
        t0 = clock()
        matching(e)
        lat.append(clock() - t0)
    lat.sort()
    return {
        "events": len(events),
        "per_second": len(events) / cpu,
        "wall_per_second": len(events) / total,
        "p50_us": lat[len(lat) // 2] / 1e3,
        "p99_us": lat[int(len(lat) * 0.99)] / 1e3,
        "mean_us": statistics.fmean(lat) / 1e3,
        "matches": fired,
    }


class Receiver:
    """A minimal asyncio HTTP server that timestamps each webhook on arrival."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import json

        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = json.loads(await reader.readexactly(length))
                now = time.perf_counter()
                alarm_id = body["alarm_id"]
                self.arrivals[alarm_id] = now
                waiter = self.waiters.pop(alarm_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def whole_path(
    runtime: Runtime, receiver: Receiver, targets: Iterable[tuple[str, Envelope]]
) -> dict[str, float]:
    lat = []
    loop = asyncio.get_running_loop()
    for alarm_id, envelope in targets:
        waiter: asyncio.Future[float] = loop.create_future()
        receiver.waiters[alarm_id] = waiter
        started = time.perf_counter()
        await runtime.bus.publish(envelope)
        arrived = await asyncio.wait_for(waiter, timeout=10)
        lat.append((arrived - started) * 1e3)
    lat.sort()
    return {
        "events": len(lat),
        "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "mean_ms": statistics.fmean(lat),
    }


def firing_event(alarm: Alarm) -> Envelope:
    traits: dict[str, Any] = {"tenant_id": alarm.project_id, "state": "error"}
    for q in alarm.rule.query:
        if q.field == "traits.instance_id":
            traits["instance_id"] = q.value
    return Envelope(
        event_type="compute.instance.update",
        publisher_id="bench",
        project_id=alarm.project_id,
        resource_id=alarm.resource_id or traits.get("instance_id"),
        traits=traits,
    )


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    receiver = Receiver()
    await receiver.start()
    action = f"http://127.0.0.1:{receiver.port}/alarm"
    with tempfile.TemporaryDirectory(prefix="sw-bench-alarms-") as tmp:
        db = args.db or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(
            **{
                "database.url": db,
                "bus.url": args.bus,
                "bus.stream": f"SWBENCH{os.getpid()}",
                "bus.subject_prefix": f"swbench{os.getpid()}",
                "state_dir": Path(tmp),
                "alarms.resync_interval": 0,
                "alarms.record_history": True,
                "logging.level": "WARNING",
            }
        )
        runtime = Runtime(settings)
        await runtime.prepare_database(migrate=True)

        print(f"generating {args.alarms:,} alarms across {args.projects:,} projects ...")
        alarms, watched = make_alarms(args.alarms, args.projects, action, rng)
        started = time.perf_counter()
        async with runtime.store.uow() as uow:
            repo = AlarmRepository(uow)
            for i in range(0, len(alarms), 5000):
                await repo.add_many(alarms[i : i + 5000])
            await uow.commit()
        print(f"  stored in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        await runtime.start()  # the evaluator loads its index from the store
        evaluator = runtime.alarm_evaluator
        assert evaluator is not None
        print(
            f"  evaluator index loaded from the store in {time.perf_counter() - started:.2f} s "
            f"({len(evaluator.index):,} alarms)"
        )

        events = make_events(args.events, watched, rng)
        scan = ScanIndex()
        scan.load(c.alarm for c in evaluator.index.by_id.values())
        for e in events[:2000]:  # both evaluators agree
            a = sorted(c.alarm_id for c in evaluator.index.matching(e))
            b = sorted(c.alarm_id for c in scan.matching(e))
            assert a == b, (e, a, b)

        print(f"\n1) evaluation step alone, {args.events:,} events (pid {os.getpid()}, one core)")
        index_result = evaluation_step(evaluator.index, events)
        base_events = events[: max(1000, args.events // args.baseline_fraction)]
        scan_result = evaluation_step(scan, base_events)
        for label, r in (("index (Stateward)", index_result), ("scan (baseline)", scan_result)):
            print(
                f"  {label:18} {r['per_second']:>10,.0f} events/s per CPU-second"
                f" ({r['wall_per_second']:,.0f}/s wall)   p50 {r['p50_us']:7.1f} us"
                f"   p99 {r['p99_us']:7.1f} us   ({r['events']:,} events, {r['matches']:,} hits)"
            )
        print(f"  ratio index/scan: {index_result['per_second'] / scan_result['per_second']:.1f}x")

        print(f"\n2) whole path publish -> webhook received, {args.path_events} events each")
        candidates = [
            a
            for a in alarms
            if not a.admin
            and (a.resource_id or any(q.field == "traits.instance_id" for q in a.rule.query))
        ]
        rng.shuffle(candidates)
        n = args.path_events
        index_targets = [(a.alarm_id, firing_event(a)) for a in candidates[:n]]
        scan_targets = [(a.alarm_id, firing_event(a)) for a in candidates[n : 2 * n]]
        await whole_path(runtime, receiver, index_targets[:5])  # warm-up (connections, caches)
        path_index = await whole_path(runtime, receiver, index_targets[5:])
        evaluator.index = scan
        path_scan = await whole_path(runtime, receiver, scan_targets)
        for label, r in (("index (Stateward)", path_index), ("scan (baseline)", path_scan)):
            print(
                f"  {label:18} p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   "
                f"mean {r['mean_ms']:7.2f} ms   "
                f"({r['events']} events, {db.split(':')[0]}, {args.bus})"
            )
        await runtime.stop()
        if args.bus.startswith("nats://"):  # leave no stream behind on a shared server
            import nats

            nc = await nats.connect(args.bus)
            try:
                await nc.jetstream().delete_stream(settings.bus.stream)
            finally:
                await nc.close()
    await receiver.stop()
    project_scale(args.project_sizes, args.aodh_venv)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--baseline-fraction", type=int, default=10, help="the scan runs events/N events"
    )
    parser.add_argument("--path-events", type=int, default=200)
    parser.add_argument(
        "--db", help="database URL (default: SQLite in a temp dir); must be an empty database"
    )
    parser.add_argument("--bus", default="memory://", help="memory:// or nats://127.0.0.1:4222")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--aodh-venv", help="venv with bench/requirements-aodh.txt installed")
    parser.add_argument(
        "--project-sizes", type=lambda v: [int(x) for x in v.split(",")], default=[1000, 10000]
    )
    asyncio.run(main(parser.parse_args()))
