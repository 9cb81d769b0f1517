"""``stateward consumer``, ``stateward bench fault`` and ``stateward demo``: the fault chain's
last role, its benchmark and its guided tour."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import typer

from stateward.cli.client import (
    OsCloudOption,
    PasswordOption,
    ProjectOption,
    ServerOption,
    TokenOption,
    UsernameOption,
    make_client,
)
from stateward.observability import configure_logging

bench_app = typer.Typer(help="Benchmarks that start their own Stateward processes.")


def consumer(
    port: int = typer.Option(8642, "--port", help="Port to receive alarm webhooks on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    name: str = typer.Option("consumer", "--name", help="This consumer's name in profiles."),
    post_back: bool = typer.Option(
        True, "--post-back/--no-post-back", help="Post T09/T10 to the server's profile."
    ),
    log_file: Path | None = typer.Option(
        None, "--log-file", help="Write its checkpoint log here (for profile import-log)."
    ),
    server: str | None = ServerOption,
    token: str | None = TokenOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    project: str | None = ProjectOption,
    os_cloud: str | None = OsCloudOption,
) -> None:
    """Receive Aodh alarm webhooks (point alarm_actions at http://HOST:PORT/alarm), stamp T09
    on receipt and T10 after handling, and post them back to the alarm's profile.

    Prints one JSON line per alarm received on stdout.
    """
    from stateward.profiler.stamp import set_process_name
    from stateward.testing.consumer import Alarm, Consumer

    configure_logging("INFO", "json", log_file)
    set_process_name(name)
    client = None
    if post_back and (server or os_cloud):
        client = make_client(server, token, username, password, project, os_cloud)

    def token_source() -> str | None:
        if client is None:
            return None
        return client._fresh_token()

    def show(alarm: Alarm) -> None:
        line = {
            "alarm_id": alarm.alarm_id,
            "alarm_name": alarm.alarm_name,
            "instance_id": alarm.instance_id,
            "trace_id": alarm.trace_id,
            "received": alarm.received,
            "current": alarm.body.get("current"),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    async def main() -> None:
        c = Consumer(
            server_url=client.url if client else None,
            token=token_source,
            handler=show,
            host=host,
            port=port,
            post_back=client is not None,
            name=name,
        )
        await c.start()
        sys.stdout.write(json.dumps({"listening": c.url}) + "\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await c.stop()

    try:
        asyncio.run(main())
    finally:
        if client is not None:
            client.close()


@bench_app.command("fault")
def bench_fault(
    hosts: int = typer.Option(1, "--hosts", min=1, help="Hosts failing at once per run."),
    vms: int = typer.Option(50, "--vms", min=1, help="Servers (and ports, alarms) per host."),
    runs: int = typer.Option(30, "--runs", min=1, help="Measured runs per source and backend."),
    warmup: int = typer.Option(1, "--warmup", min=0),
    backend: str = typer.Option("embedded", "--backend", help="embedded, pg-nats or both."),
    processes: int = typer.Option(2, "--processes", min=1, help="Server processes on pg-nats."),
    source: str = typer.Option("both", "--source", help="monitor, agent or both."),
    baseline: bool = typer.Option(
        True, "--baseline/--no-baseline", help="Also run Doctor's sample inspector behaviour."
    ),
    pg: str | None = typer.Option(None, "--pg", help="PostgreSQL server URL (admin database)."),
    nats: str | None = typer.Option(None, "--nats", help="NATS URL."),
    json_file: Path | None = typer.Option(None, "--json", help="Also write the results here."),
    quiet: bool = typer.Option(False, "--quiet", help="No per-run lines."),
    receiver: str = typer.Option(
        "consumer", "--receiver", help="consumer, or plain: a one-thread http.server, backlog 5."
    ),
    profile: Path | None = typer.Option(
        None, "--profile", help="Record each run's fault window with py-spy into this folder."
    ),
) -> None:
    """Fault -> consumer notified, end to end on real processes; p50/p95/p99/max, the server CPU
    per alarm, the profiler breakdown, Doctor's criterion (< 1 s) and Doctor's published
    figures."""
    from stateward.bench import fault

    argv = [
        f"--hosts={hosts}",
        f"--vms={vms}",
        f"--runs={runs}",
        f"--warmup={warmup}",
        f"--backend={backend}",
        f"--processes={processes}",
        f"--source={source}",
    ]
    if not baseline:
        argv.append("--no-baseline")
    if pg:
        argv.append(f"--pg={pg}")
    if nats:
        argv.append(f"--nats={nats}")
    if json_file:
        argv.append(f"--json={json_file}")
    if quiet:
        argv.append("--quiet")
    argv.append(f"--receiver={receiver}")
    if profile:
        argv.append(f"--profile={profile}")
    if (
        backend not in ("embedded", "pg-nats", "both")
        or source not in ("monitor", "agent", "both")
        or receiver not in ("consumer", "plain")
    ):
        typer.secho(
            "error: --backend embedded|pg-nats|both, --source monitor|agent|both, "
            "--receiver consumer|plain",
            err=True,
        )
        raise typer.Exit(2)
    raise typer.Exit(fault.main(argv))


def demo(
    hosts: int = typer.Option(3, "--hosts", min=2, max=8, help="Simulated chassis."),
    vms: int = typer.Option(8, "--vms", min=1, max=50, help="Servers per chassis."),
    keep: bool = typer.Option(False, "--keep", help="Leave the working directory behind."),
) -> None:
    """Start an all-in-one server with a simulated cloud, kill a host, and show the fault chain
    happen and its profile (about 15 s)."""
    from stateward.testing.demo import run_demo

    raise typer.Exit(run_demo(hosts=hosts, vms=vms, keep=keep))
