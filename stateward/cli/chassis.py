"""``stateward chassis list|show|delete|clean-stale``: the seed's DB commands, on the store.

Like ``stateward user``, these run where the server's database is reachable (same config).
Status is computed with the configured ``[liveness] chassis_down_time``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from stateward.cli.common import (
    BusOption,
    ConfigOption,
    DbOption,
    StateDirOption,
    run,
    settings_from,
)
from stateward.cli.output import ColumnOption, Format, FormatOption, emit_list, emit_one
from stateward.config import Settings
from stateward.domain.chassis import Chassis

chassis_app = typer.Typer(help="Chassis (hosts running `stateward agent`) and their liveness.")

LIST_COLUMNS = ["name", "ip", "status", "last_seen_age", "tunnel_types", "services"]


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``2d`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 15m, 1h or 2d")
    value = float(match.group(1))
    return value * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


class _Session:
    def __init__(self, settings: Settings) -> None:
        from stateward.bus.memory import MemoryBus
        from stateward.services.liveness import LivenessService
        from stateward.store.db import Store

        self.store = Store(settings.database_url)
        self.bus = MemoryBus()
        self.liveness = LivenessService(self.store, self.bus, settings.liveness)

    async def __aenter__(self) -> _Session:
        await self.bus.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.bus.close()
        await self.store.close()


def _row(session: _Session, c: Chassis) -> dict[str, Any]:
    from stateward.services.liveness import chassis_view

    view = chassis_view(c, session.liveness.now(), session.liveness.down_time)
    view["services"] = ", ".join(f"{k}:{v['state']}" for k, v in view["service_status"].items())
    return view


@chassis_app.command("list")
def chassis_list(
    status: str | None = typer.Option(None, "--status", help="active or down"),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """List chassis with their status (active/down), last-seen age and services."""
    if status not in (None, "active", "down"):
        raise typer.BadParameter("--status must be active or down")

    async def go() -> list[dict[str, Any]]:
        async with _Session(settings_from(config, state_dir, db)) as s:
            return [_row(s, c) for c in await s.liveness.list(status)]

    rows = run(go)
    if fmt is Format.table and not columns:
        columns = LIST_COLUMNS
    emit_list(rows, fmt, columns)


@chassis_app.command("show")
def chassis_show(
    name: str,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Show one chassis, its status and each local service's status."""

    async def go() -> dict[str, Any]:
        async with _Session(settings_from(config, state_dir, db)) as s:
            return _row(s, await s.liveness.get(name))

    emit_one(run(go), fmt, columns)


@chassis_app.command("delete")
def chassis_delete(
    name: str,
    force: bool = typer.Option(False, "--force", help="Delete even if it is active."),
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Delete a chassis (an active one only with --force)."""

    async def go() -> None:
        async with _Session(settings_from(config, state_dir, db)) as s:
            await s.liveness.delete(name, force=force)

    run(go)
    typer.echo(f"deleted chassis {name}")


@chassis_app.command("clean-stale")
def chassis_clean_stale(
    older_than: str = typer.Option(
        "0", "--older-than", help="Only chassis silent for longer than this (e.g. 1h, 30m)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    fmt: Format = FormatOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
    bus: str | None = BusOption,
) -> None:
    """Delete down chassis (never an active one) and print what was removed."""
    seconds = parse_duration(older_than)
    settings = settings_from(config, state_dir, db)

    async def candidates() -> list[Chassis]:
        async with _Session(settings) as s:
            return await s.liveness.clean_stale(seconds, dry_run=True)

    stale = run(candidates)
    if not stale:
        typer.echo("no stale chassis")
        return
    if not yes:
        typer.echo("stale chassis: " + ", ".join(c.name for c in stale))
        if not typer.confirm(f"delete these {len(stale)} chassis?"):
            raise typer.Exit(1)

    async def remove() -> list[dict[str, Any]]:
        async with _Session(settings) as s:
            return [
                {"name": c.name, "ip": c.ip, "last_seen": _row(s, c)["last_seen"]}
                for c in await s.liveness.clean_stale(seconds)
            ]

    removed = run(remove)
    emit_list(removed, fmt)
    if fmt is Format.table:
        typer.echo(f"removed {len(removed)} stale chassis")
