"""``stateward demo``: the fault chain, live, on a fresh install, in about 15 seconds.

It starts the all-in-one server (``stateward serve``: SQLite and the in-process bus) in a
temporary directory, a ``stateward agent`` per simulated chassis, registers servers with a
port each and one Doctor-style event alarm per server whose webhook goes to a consumer it runs,
shows the cloud's state live, kills one chassis agent (SIGKILL), and shows what follows: the
chassis declared down, the host forced down, its servers in error, one alarm per server at
the consumer, and the fault's profile (the Doctor profiler's timeline and cost table).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stateward.bench.cluster import Cluster, Process
from stateward.bench.fault import Driver
from stateward.profiler.model import BY_NAME, Profile
from stateward.profiler.render import render_text
from stateward.testing.consumer import Consumer

# Fast enough to watch, slow enough that a busy laptop never misses a deadline by accident.
DEMO_LIVENESS = {
    "STATEWARD_LIVENESS__REPORT_INTERVAL": "0.2",
    "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "1.0",
}


@dataclass
class View:
    chassis: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    servers: dict[str, Counter[str]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        self.events.append(f"[dim]{time.monotonic() - self.started:5.2f}s[/dim]  {text}")


def _table(view: View, hosts: list[str], consumer: Consumer) -> Table:
    table = Table(title="the simulated cloud (live)", expand=False)
    for col in ("chassis", "liveness", "nova-compute", "servers", "alarms at the consumer"):
        table.add_column(col)
    by_host = Counter(a.alarm_name.rsplit("-vm", 1)[0] for a in consumer.received)
    for host in hosts:
        c = view.chassis.get(host, {})
        s = view.services.get(host, {})
        status = c.get("status", "?")
        liveness = f"[green]{status}[/green]" if status == "active" else f"[red]{status}[/red]"
        state = s.get("state", "?")
        forced = " (forced down)" if s.get("forced_down") else ""
        nova = f"[green]{state}[/green]" if state == "up" else f"[red]{state}{forced}[/red]"
        counts = view.servers.get(host, Counter())
        servers = ", ".join(
            f"[red]{n} {k}[/red]" if k == "ERROR" else f"{n} {k}" for k, n in sorted(counts.items())
        )
        alarms = by_host.get(host, 0)
        table.add_row(
            host, liveness, nova, servers or "-", f"[red]{alarms}[/red]" if alarms else "0"
        )
    return table


def _render(view: View, hosts: list[str], consumer: Consumer) -> Group:
    log = "\n".join(view.events[-22:]) or "starting"
    return Group(_table(view, hosts, consumer), Panel(Text.from_markup(log), title="what happens"))


async def _poll(driver: Driver, view: View) -> None:
    headers = await driver.headers(mv="2.53")
    base = driver.cluster.url
    c = driver.client
    chassis, services, servers = await asyncio.gather(
        c.get(f"{base}/v1/chassis", headers=headers),
        c.get(f"{base}/compute/v2.1/os-services", headers=headers),
        c.get(f"{base}/compute/v2.1/servers/detail?all_tenants=True", headers=headers),
    )
    if chassis.status_code == 200:
        view.chassis = {x["name"]: x for x in chassis.json()["chassis"]}
    if services.status_code == 200:
        view.services = {x["host"]: x for x in services.json()["services"]}
    if servers.status_code == 200:
        counts: dict[str, Counter[str]] = {}
        for s in servers.json()["servers"]:
            counts.setdefault(s.get("OS-EXT-SRV-ATTR:host") or "?", Counter())[s["status"]] += 1
        view.servers = counts


async def demo(hosts: int, vms: int, console: Console, workdir: Path) -> int:
    names = [f"compute-{i + 1}" for i in range(hosts)]
    victim = names[0]
    view = View()
    cluster = Cluster("embedded", 1, env=dict(DEMO_LIVENESS), workdir=workdir)
    console.print(
        "[bold]Stateward demo[/bold]: an all-in-one server (SQLite + in-process bus), "
        f"{hosts} chassis agents, {hosts * vms} servers with a port and an alarm each, a consumer."
    )
    with console.status("starting the server"):
        await cluster.start()
    agents: list[Process] = []
    pending: list[asyncio.Future[Any]] = []
    consumer = Consumer(server_url=cluster.url, token=cluster.cached_token, name="demo-consumer")
    driver: Driver | None = None
    try:
        await cluster.token()
        await consumer.start()
        driver = Driver(cluster, consumer.url)
        with Live(_render(view, names, consumer), console=console, refresh_per_second=12) as live:

            async def refresh(seconds: float, until: Any = None) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    with contextlib.suppress(httpx.HTTPError):
                        await _poll(driver, view)
                    live.update(_render(view, names, consumer))
                    if until is not None and until():
                        return
                    await asyncio.sleep(0.1)

            view.say(f"server up at {cluster.url}; starting {hosts} chassis agents")
            agents = [cluster.start_agent(n, f"198.18.0.{i + 1}") for i, n in enumerate(names)]
            waits = asyncio.gather(*(driver.wait_chassis(n) for n in names))
            pending.append(waits)
            while not waits.done():
                await refresh(0.2)
            await waits
            view.say("every chassis reports every 0.2 s (chassis_down_time 1.0 s)")
            for n in names:
                await driver.populate(n, vms)
                view.say(f"{n}: {vms} servers, {vms} ports, {vms} event alarms (state = error)")
                await refresh(0.1)
            await refresh(1.0)
            view.say(f"[bold red]killing the agent of {victim} (SIGKILL)[/bold red]")
            agents[0].stop(signal.SIGKILL)
            killed = time.monotonic()

            def all_alarms() -> bool:
                return sum(1 for a in consumer.received if a.alarm_name.startswith(victim)) >= vms

            seen: set[str] = set()
            while not all_alarms() and time.monotonic() - killed < 10:
                await refresh(0.05)
                ch = view.chassis.get(victim, {})
                svc = view.services.get(victim, {})
                steps = (
                    (
                        "down",
                        ch.get("status") == "down",
                        f"liveness: {victim} missed its deadline -> chassis.down",
                    ),
                    (
                        "forced",
                        bool(svc.get("forced_down")),
                        f"inspector: {victim} forced down, its servers set to error",
                    ),
                    (
                        "first",
                        bool(consumer.received),
                        "alarm evaluator fired; the consumer received the first webhook",
                    ),
                )
                reached = max((i for i, (_k, ok, _t) in enumerate(steps) if ok), default=-1)
                for key, _ok, text in steps[: reached + 1]:  # a later step implies the earlier
                    if key not in seen:
                        seen.add(key)
                        view.say(text)
            if not all_alarms():
                view.say("[red]the consumer did not receive every alarm in 10 s[/red]")
                live.update(_render(view, names, consumer))
                return 1
            mine = [a for a in consumer.received if a.alarm_name.startswith(victim)]
            spread = (max(a.received for a in mine) - min(a.received for a in mine)) * 1000
            view.say(
                f"[green]the consumer has all {len(mine)} alarms of {victim}[/green] "
                f"(first to last: {spread:.0f} ms)"
            )
            trace = next((a.trace_id for a in mine if a.trace_id), None)
            await consumer.drain()
            profile = await driver.profile(trace) if trace else Profile("none")
            for name in profile.present:
                meta = profile.checkpoint_meta.get(name, {})
                who = meta.get("process", "")
                view.say(
                    f"  {name} +{profile.offset_ms(name):7.1f} ms  {BY_NAME[name].label}"
                    + (f" [dim]({who})[/dim]" if who and name in ("T09", "T10") else "")
                )
            await refresh(0.6)
        console.print()
        console.print(
            f"[bold]The fault's profile[/bold] (stateward profile show {trace}): T00 is the "
            "chassis' deadline (last heartbeat + chassis_down_time), T01 chassis.down committed."
        )
        width = max(100, console.width)
        console.print(
            render_text(profile, width=max(20, width - 52), console_width=width),
            markup=False,
            soft_wrap=True,
        )
        last = max(a.received for a in mine)
        t00 = profile.checkpoints.get("T00")
        if t00:
            console.print(
                f"Deadline -> the consumer had every alarm: {(last - t00) * 1000:.0f} ms "
                f"(Doctor's criterion: < 1000 ms)."
            )
        console.print(
            "Next: docs/user/demo.md, `stateward bench fault`, `stateward profile --help`."
        )
        return 0 if profile.complete else 1
    finally:
        for future in pending:  # interrupted: collect it, so nothing is reported unretrieved
            future.cancel()
            with contextlib.suppress(BaseException):
                await future
        for a in agents:
            a.stop()
        await consumer.stop()
        if driver is not None:
            await driver.close()
        for server in cluster.servers:
            server.stop()


def run_demo(hosts: int = 3, vms: int = 8, keep: bool = False) -> int:
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="stateward-demo-"))
    started = time.monotonic()
    try:
        code = asyncio.run(demo(hosts, vms, console, workdir))
    except KeyboardInterrupt:
        # Ctrl-C: demo() stopped the server, the agents and the consumer on its way out.
        console.print(
            "\n[yellow]interrupted[/yellow]: the demo's server, agents and consumer are stopped."
        )
        code = 130
    finally:
        if keep:
            console.print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(f"demo finished in {time.monotonic() - started:.1f} s")
    return code
