"""``stateward host list|show``: each host's compute state and fault history (the inspector's)."""

from __future__ import annotations

from typing import Any

import typer

from stateward.cli.client import (
    ServerClient,
    api_command,
)
from stateward.cli.output import ColumnOption, Format, FormatOption, emit_list, emit_one

app = typer.Typer(help="Hosts: compute service state and fault history.")


@app.command("list")
@api_command()
def host_list(
    client: ServerClient,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Every known host with its state and last raw failure."""
    hosts = client.get_json("/v1/hosts")["hosts"]
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
@api_command()
def host_show(
    client: ServerClient,
    name: str,
    limit: int = typer.Option(50, "--limit", help="How many fault history entries."),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """A host's compute state and its fault history, newest first."""
    host = client.get_json(f"/v1/hosts/{name}", limit=limit)["host"]
    if fmt is Format.table:
        history = [
            f"{f['received_at']} {f['type']} {f['outcome']} (monitor {f['monitor']}, "
            f"event {f['monitor_event_id']}, servers {f['servers_changed']}, "
            f"ports {f['ports_changed']})"
            for f in host["faults"]
        ]
        host = {**host, "faults": "\n".join(history)}
    emit_one(host, fmt, columns)
