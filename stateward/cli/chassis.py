"""``stateward chassis list|show|delete|clean-stale``: the seed's chassis commands, as clients of
the server's ``/v1/chassis`` API (status is the server's, with its ``chassis_down_time``)."""

from __future__ import annotations

import re
from typing import Any

import typer

from stateward.cli.client import ServerClient, api_command
from stateward.cli.output import ColumnOption, Format, FormatOption, emit_list, emit_one

chassis_app = typer.Typer(help="Chassis (hosts running `stateward agent`) and their liveness.")

LIST_COLUMNS = ["name", "ip", "status", "last_seen_age", "tunnel_types", "services"]


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``2d`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 15m, 1h or 2d")
    value = float(match.group(1))
    return value * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _row(view: dict[str, Any]) -> dict[str, Any]:
    services = view.get("service_status") or {}
    return {**view, "services": ", ".join(f"{k}:{v['state']}" for k, v in services.items())}


@chassis_app.command("list")
@api_command()
def chassis_list(
    client: ServerClient,
    status: str | None = typer.Option(None, "--status", help="active or down"),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """List chassis with their status (active/down), last-seen age and services."""
    if status not in (None, "active", "down"):
        raise typer.BadParameter("--status must be active or down")
    params = {"status": status} if status else {}
    rows = [_row(c) for c in client.get_json("/v1/chassis", **params)["chassis"]]
    if fmt is Format.table and not columns:
        columns = LIST_COLUMNS
    emit_list(rows, fmt, columns)


@chassis_app.command("show")
@api_command()
def chassis_show(
    client: ServerClient,
    name: str,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Show one chassis, its status and each local service's status."""
    view = client.get_json(f"/v1/chassis/{name}")["chassis"]
    emit_one(_row(view), fmt, columns)


@chassis_app.command("delete")
@api_command()
def chassis_delete(
    client: ServerClient,
    name: str,
    force: bool = typer.Option(False, "--force", help="Delete even if it is active."),
) -> None:
    """Delete a chassis (an active one only with --force)."""
    client.delete(f"/v1/chassis/{name}", **({"force": "true"} if force else {}))
    typer.echo(f"deleted chassis {name}")


@chassis_app.command("clean-stale")
@api_command()
def chassis_clean_stale(
    client: ServerClient,
    older_than: str = typer.Option(
        "0", "--older-than", help="Only chassis silent for longer than this (e.g. 1h, 30m)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    fmt: Format = FormatOption,
) -> None:
    """Delete down chassis (never an active one) and print what was removed."""
    seconds = parse_duration(older_than)
    path = "/v1/chassis/clean-stale"
    stale = client.request("POST", path, params={"older_than": seconds, "dry_run": "true"}).json()[
        "chassis"
    ]
    if not stale:
        typer.echo("no stale chassis")
        return
    if not yes:
        typer.echo("stale chassis: " + ", ".join(c["name"] for c in stale))
        if not typer.confirm(f"delete these {len(stale)} chassis?"):
            raise typer.Exit(1)
    removed = client.request("POST", path, params={"older_than": seconds}).json()["chassis"]
    emit_list(
        [{"name": c["name"], "ip": c["ip"], "last_seen": c["last_seen"]} for c in removed], fmt
    )
    if fmt is Format.table:
        typer.echo(f"removed {len(removed)} stale chassis")
