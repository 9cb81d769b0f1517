"""``stateward monitor ping``: Doctor's sample monitor, reporting to Stateward's inspector."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

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
from stateward.monitor.icmp import Pinger
from stateward.monitor.ping import PingMonitor, parse_target
from stateward.observability import configure_logging

app = typer.Typer(help="Sample monitors that report raw failures to the inspector.")


@app.command("ping")
def ping(
    host: list[str] = typer.Option(
        ..., "--host", help="NAME=IP of a host to watch (repeatable). NAME is the chassis name."
    ),
    interval: float = typer.Option(0.1, "--interval", min=0.01, help="Probe period (s)."),
    down_after: float = typer.Option(
        0.3, "--down-after", min=0.01, help="No answer for this long = host down (s)."
    ),
    monitor_name: str = typer.Option("stateward-monitor-ping", "--monitor-name"),
    server: str | None = ServerOption,
    token: str | None = TokenOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    project: str | None = ProjectOption,
    os_cloud: str | None = OsCloudOption,
) -> None:
    """Probe each host with ICMP every --interval and report it down to the inspector.

    Prints one JSON line per state change (answering, down, up) on stdout.
    """
    try:
        targets = [parse_target(h) for h in host]
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    configure_logging("INFO", "json", None)
    client = make_client(server, token, username, password, project, os_cloud)

    def announce(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    async def report(events: list[dict[str, Any]]) -> None:
        await asyncio.to_thread(client.request, "PUT", "/v1/inspector/events", json=events)

    async def main() -> None:
        pinger = Pinger()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        announce(
            {"monitor": monitor_name, "probe": pinger.mode, "hosts": [t.name for t in targets]}
        )
        monitor = PingMonitor(
            targets,
            pinger.ping,
            report,
            interval=interval,
            down_after=down_after,
            monitor=monitor_name,
            announce=announce,
        )
        try:
            await monitor.run(stop)
        finally:
            pinger.close()

    try:
        asyncio.run(main())
    finally:
        client.close()
