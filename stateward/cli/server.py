"""``stateward serve``, ``db upgrade``, ``config show`` and ``clouds-yaml``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
import uvicorn
import yaml

from stateward.cli.common import BusOption, ConfigOption, DbOption, StateDirOption, settings_from
from stateward.config import Settings, masked
from stateward.observability import configure_logging

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
    """Run every server role in one process (embedded default: SQLite and in-process bus)."""
    settings = settings_from(
        config, state_dir, db, bus, **{"server.host": host, "server.port": port}
    )
    configure_logging(settings.logging.level, settings.logging.format, settings.logging.file)
    asyncio.run(_serve(settings, migrate))


async def _serve(settings: Settings, migrate: bool) -> None:
    from stateward.api.app import create_app
    from stateward.runtime import Runtime

    runtime = Runtime(settings)
    await runtime.prepare_database(migrate=migrate or settings.is_embedded_database)
    if runtime.generated_admin_password:
        typer.echo(
            "Created user 'admin' in project 'admin' with password: "
            f"{runtime.generated_admin_password}\n(shown once; set STATEWARD_ADMIN_PASSWORD to "
            "choose it)",
            err=True,
        )
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
    await server.serve()  # uvicorn handles SIGINT/SIGTERM with a graceful shutdown


db_app = typer.Typer(help="Database schema.")


@db_app.command("upgrade")
def db_upgrade(
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Apply every pending migration."""
    from stateward.store.migrate import upgrade

    settings = settings_from(config, state_dir, db)
    if settings.is_embedded_database:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    typer.echo("database is up to date")


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
        None,
        "--password",
        envvar="STATEWARD_ADMIN_PASSWORD",
        help="Written into the file when given.",
    ),
) -> None:
    """Print a clouds.yaml entry for ``openstack --os-cloud stateward``."""
    auth: dict[str, Any] = {
        "auth_url": url.rstrip("/") + "/identity",
        "username": username,
        "project_name": project,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    if password:
        auth["password"] = password
    entry = {
        "clouds": {
            cloud: {
                "auth_type": "password",
                "auth": auth,
                "region_name": "RegionOne",
                "identity_api_version": 3,
                "interface": "public",
            }
        }
    }
    typer.echo(yaml.safe_dump(entry, sort_keys=False))
