"""``stateward serve``, ``db upgrade``, ``config show`` and ``clouds-yaml``."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import uvicorn
import yaml

from stateward.cli.common import BusOption, ConfigOption, DbOption, StateDirOption, settings_from
from stateward.config import Settings, masked
from stateward.domain.errors import DomainError
from stateward.identity.clouds import cloud_entry, render, usage_line, write_admin_clouds_yaml
from stateward.observability import configure_logging

if TYPE_CHECKING:
    from stateward.services.identity.bootstrap import Bootstrap

app = typer.Typer(help="Run and administer the server.")


def serve(
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
    bus: str | None = BusOption,
    host: str | None = typer.Option(None, "--host", help="Address to listen on."),
    port: int | None = typer.Option(None, "--port", help="Port to listen on (default 9696)."),
    migrate: bool = typer.Option(False, "--migrate", help="Upgrade the schema before serving."),
) -> None:
    """Run every server role in one process (embedded default: SQLite and in-process bus).

    The first start creates the admin and writes its credentials to STATE_DIR/clouds.yaml.
    """
    settings = settings_from(
        config, state_dir, db, bus, **{"server.host": host, "server.port": port}
    )
    configure_logging(settings.logging.level, settings.logging.format, settings.logging.file)
    # Take the port before anything is created, so "address in use" is the first thing said.
    sock = _listen(settings.server.host, settings.server.port)
    try:
        code = asyncio.run(_serve(settings, migrate, sock))
    except KeyboardInterrupt:
        code = 0
    finally:
        sock.close()
    raise typer.Exit(code)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        typer.secho(
            f"error: cannot listen on {host}:{port}: {reason} "
            "(another server running? choose another port with --port)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def local_url(settings: Settings) -> str:
    """The URL clients on this machine reach the server at (the catalog's, if configured)."""
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    host = settings.server.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def _announce_admin(settings: Settings, outcome: Bootstrap) -> None:
    """One line on how to use the admin's credentials (and one if the configured password is
    stale)."""
    path = settings.state_dir / "clouds.yaml"
    if outcome.created and outcome.password is not None:
        path = write_admin_clouds_yaml(
            settings.state_dir, local_url(settings), outcome.password, settings.server.region
        )
        typer.echo(
            f"Created user 'admin' (project 'admin'); its credentials are in {path}. "
            f"Use them with: {usage_line(path)}",
            err=True,
        )
        return
    if outcome.mismatch:
        typer.secho(
            "warning: STATEWARD_ADMIN_PASSWORD does not match the admin's password and is "
            "ignored (it only sets the password at the first start); to change it run "
            "`openstack user set --password-prompt admin` or `stateward user set-password admin`",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if path.is_file():
        typer.echo(f"Admin credentials: {usage_line(path)}", err=True)


async def _serve(settings: Settings, migrate: bool, sock: socket.socket) -> int:
    from stateward.api.app import create_app
    from stateward.runtime import Runtime

    runtime = Runtime(settings)
    try:
        await runtime.prepare_database(migrate=migrate or settings.is_embedded_database)
    except DomainError as exc:
        typer.secho(f"error: admin password: {exc.message}", fg=typer.colors.RED, err=True)
        await runtime.store.close()
        return 2
    except RuntimeError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        await runtime.store.close()
        return 1
    assert runtime.bootstrap is not None
    _announce_admin(settings, runtime.bootstrap)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime),
            host=settings.server.host,
            port=settings.server.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    await server.serve(sockets=[sock])  # uvicorn handles SIGINT/SIGTERM with a graceful shutdown
    return 0


db_app = typer.Typer(help="Database schema.")


@db_app.command("upgrade")
def db_upgrade(
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Apply every pending migration and say which."""
    from stateward.store.migrate import current_heads, pending_revisions, upgrade

    settings = settings_from(config, state_dir, db)
    if settings.is_embedded_database:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    url = settings.database_url
    try:
        before = asyncio.run(current_heads(url))
    except Exception as exc:
        typer.secho(f"error: cannot reach the database: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    pending = pending_revisions(url, before)
    if not pending:
        typer.echo(f"database is already up to date ({', '.join(sorted(before))})")
        return
    upgrade(url)
    start = "an empty database" if not before else ", ".join(sorted(before))
    typer.echo(
        f"applied {len(pending)} migration(s) to {start}: {', '.join(pending)}; "
        f"database is now at {pending[-1]}"
    )


config_app = typer.Typer(help="Configuration.")


@config_app.command("show")
def config_show(
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
    bus: str | None = BusOption,
    fmt: str = typer.Option("toml", "-f", "--format", help="toml, json or yaml"),
) -> None:
    """Print the effective configuration, secrets masked."""
    data = masked(settings_from(config, state_dir, db, bus))
    if fmt == "json":
        typer.echo(json.dumps(data, indent=2))
    elif fmt == "yaml":
        typer.echo(yaml.safe_dump(data, sort_keys=False))
    else:
        typer.echo(_toml(data))


def _toml(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in value.items() if v is not None)
    return "\n".join(lines)


def clouds_yaml(
    url: str = typer.Option("http://127.0.0.1:9696", "--url", help="Stateward's public URL."),
    cloud: str = typer.Option("stateward", "--cloud", help="Name of the cloud entry."),
    username: str = typer.Option("admin", "--username"),
    project: str = typer.Option("admin", "--project"),
    password: str | None = typer.Option(
        None, "--password", help="Written into the file when given."
    ),
    region: str = typer.Option("RegionOne", "--region"),
) -> None:
    """Print a clouds.yaml entry for a user (the first start writes the admin's already)."""
    typer.echo(
        render(
            {
                cloud: cloud_entry(
                    url, username=username, project=project, password=password, region=region
                )
            }
        ),
        nl=False,
    )
