"""``stateward agent``: the chassis agent (heartbeat and local service supervision)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import socket
from pathlib import Path

import typer

from stateward.cli.common import BusOption, ConfigOption, settings_from
from stateward.config import LocalServiceConfig, Settings
from stateward.observability import configure_logging

log = logging.getLogger(__name__)


def agent(
    chassis: str | None = typer.Option(
        None, "--chassis", help="This chassis' name (default: the hostname)."
    ),
    local_ip: str | None = typer.Option(
        None, "--local-ip", help="The IP other chassis reach this one at (tunnel endpoint)."
    ),
    server: list[str] | None = typer.Option(
        None, "--server", envvar="STATEWARD_URL", help="Server URL (repeatable: tried in order)."
    ),
    token: str | None = typer.Option(
        None, "--token", envvar="STATEWARD_TOKEN", help="A token to use as is."
    ),
    os_cloud: str | None = typer.Option(
        None, "--os-cloud", envvar="OS_CLOUD", help="clouds.yaml entry to authenticate with."
    ),
    tunnel_types: str | None = typer.Option(
        None, "--tunnel-types", help="Comma-separated, e.g. geneve,vxlan,gre."
    ),
    service: list[str] | None = typer.Option(
        None,
        "--service",
        help="A local service to supervise: NAME=COMMAND (repeatable; also [agent] services).",
    ),
    pid_dir: Path | None = typer.Option(
        None, "--pid-dir", help="Where --service pid files go (default: state_dir/agent)."
    ),
    report_interval: float | None = typer.Option(
        None, "--report-interval", help="Ask for this interval (the server may refuse it)."
    ),
    transport: str | None = typer.Option(
        None, "--transport", help="http or nats (default: nats when --bus is NATS)."
    ),
    bus: str | None = BusOption,
    config: Path | None = ConfigOption,
) -> None:
    """Register this chassis and report its timestamp and local services to the server."""
    settings = settings_from(config, None, None, bus)
    configure_logging(settings.logging.level, settings.logging.format, settings.logging.file)
    cfg = settings.agent
    services = list(cfg.services)
    pids = pid_dir or settings.state_dir / "agent"
    for spec in service or []:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            typer.secho(f"error: --service {spec!r}: expected NAME=COMMAND", err=True, fg="red")
            raise typer.Exit(2)
        services.append(
            LocalServiceConfig(
                name=name,
                command=shlex.split(command),
                pid_file=pids / f"{name}.pid",
                respawn=True,
                respawn_delay=1.0,
            )
        )
    mode = (
        transport
        or cfg.transport
        or ("nats" if settings.bus.url.startswith(("nats://", "tls://")) else "http")
    )
    if mode not in ("http", "nats"):
        typer.secho("error: --transport must be http or nats", err=True, fg="red")
        raise typer.Exit(2)
    types = [t.strip() for t in tunnel_types.split(",") if t.strip()] if tunnel_types else None
    code = asyncio.run(
        _run(
            settings,
            chassis=chassis or cfg.chassis or socket.gethostname(),
            local_ip=local_ip or cfg.local_ip,
            servers=list(server or cfg.server),
            token=token,
            cloud=os_cloud,
            services=services,
            tunnel_types=types if types is not None else list(cfg.tunnel_types),
            report_interval=report_interval,
            mode=mode,
        )
    )
    raise typer.Exit(code)


def chassis_external_ids(settings: Settings) -> dict[str, str] | None:
    """What the agent reports about its chassis (zone, capacity); None: nothing to say."""
    ids = dict(settings.agent.external_ids)
    if settings.agent.report_capacity:
        import shutil

        ids.setdefault("vcpus", str(os.cpu_count() or 1))
        ids.setdefault("memory_mb", str(_memory_mb()))
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        ids.setdefault("disk_gb", str(shutil.disk_usage(settings.state_dir).total // 1024**3))
    return ids or None


def _memory_mb() -> int:
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0


async def _run(
    settings: Settings,
    *,
    chassis: str,
    local_ip: str | None,
    servers: list[str],
    token: str | None,
    cloud: str | None,
    services: list[LocalServiceConfig],
    tunnel_types: list[str],
    report_interval: float | None,
    mode: str,
) -> int:
    from stateward.agent.client import AuthError, ServerClient, credentials_from
    from stateward.agent.heartbeat import ChassisAgent, RegistrationRefused
    from stateward.agent.process import ProcessMonitor
    from stateward.bus import create_bus

    try:
        client = ServerClient(servers, credentials_from(token, cloud, settings.agent))
    except AuthError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return 2
    ip = local_ip or _guess_ip(client.url)
    the_bus = None
    if mode == "nats":
        the_bus = create_bus(settings.bus, name=f"stateward-agent-{chassis}")
        await the_bus.start()
    agent = ChassisAgent(
        chassis=chassis,
        local_ip=ip,
        client=client,
        monitor=ProcessMonitor(services),
        tunnel_types=tunnel_types,
        bus=the_bus,
        report_interval=report_interval,
        jitter=settings.agent.jitter,
        max_backoff=settings.agent.max_backoff,
        external_ids=chassis_external_ids(settings),
    )
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    log.info("agent starting", extra={"chassis": chassis, "ip": ip, "transport": mode})
    code = 0
    try:
        await task
    except asyncio.CancelledError:
        pass
    except (RegistrationRefused, AuthError) as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        code = 1
    finally:
        await client.close()
        if the_bus is not None:
            with contextlib.suppress(Exception):
                await the_bus.close()
    return code


def _guess_ip(url: str) -> str:
    """The local address used to reach the server."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((parsed.hostname or "127.0.0.1", parsed.port or 80))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
