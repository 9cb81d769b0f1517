"""``stateward host list|show``: each host's compute state and fault history (the inspector's)."""

from __future__ import annotations

from typing import Any

import typer

from stateward.cli.client import (
    ClientError,
    OsCloudOption,
    PasswordOption,
    ProjectOption,
    ServerOption,
    TokenOption,
    UsernameOption,
    make_client,
)
from stateward.cli.output import ColumnOption, Format, FormatOption, emit_list, emit_one

app = typer.Typer(help="Hosts: compute service state and fault history.")


def _fail(exc: ClientError) -> typer.Exit:
    typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@app.command("list")
def host_list(
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    server: str | None = ServerOption,
    token: str | None = TokenOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    project: str | None = ProjectOption,
    os_cloud: str | None = OsCloudOption,
) -> None:
    """Every known host with its state and last raw failure."""
    with make_client(server, token, username, password, project, os_cloud) as client:
        try:
            hosts = client.get_json("/v1/hosts")["hosts"]
        except ClientError as exc:
            raise _fail(exc)
    rows: list[dict[str, Any]] = []
    for h in hosts:
        last = h.get("last_fault") or {}
        rows.append(
            {
                "name": h["name"],
                "state": h["state"],
                "status": h["status"],
                "forced_down": h["forced_down"],
                "host_status": h["host_status"],
                "servers": h["servers"],
                "ports": h["ports"],
                "last_fault": f"{last.get('type')} {last.get('outcome')}" if last else None,
                "last_fault_at": last.get("received_at"),
            }
        )
    emit_list(rows, fmt, columns)


@app.command("show")
def host_show(
    name: str,
    limit: int = typer.Option(50, "--limit", help="How many fault history entries."),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    server: str | None = ServerOption,
    token: str | None = TokenOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    project: str | None = ProjectOption,
    os_cloud: str | None = OsCloudOption,
) -> None:
    """A host's compute state and its fault history, newest first."""
    with make_client(server, token, username, password, project, os_cloud) as client:
        try:
            host = client.get_json(f"/v1/hosts/{name}", limit=limit)["host"]
        except ClientError as exc:
            raise _fail(exc)
    if fmt is Format.table:
        history = [
            f"{f['received_at']} {f['type']} {f['outcome']} (monitor {f['monitor']}, "
            f"event {f['monitor_event_id']}, servers {f['servers_changed']}, "
            f"ports {f['ports_changed']})"
            for f in host["faults"]
        ]
        host = {**host, "faults": "\n".join(history)}
    emit_one(host, fmt, columns)
