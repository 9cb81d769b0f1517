"""``stateward journal ...`` (a client of the server's ``/v1/journal`` API) and ``stateward
controller-shim`` (the ODL stand-in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from stateward.cli.client import (
    ServerClient,
    api_command,
)
from stateward.cli.output import ColumnOption, Format, FormatOption, emit_list, emit_one
from stateward.domain.journal import RowState

journal_app = typer.Typer(help="The SDN journal: status, rows, retry, cleanup.")


def _row(view: dict[str, Any], data: bool = False) -> dict[str, Any]:
    keys = [
        "seqnum",
        "object_type",
        "object_uuid",
        "operation",
        "state",
        "retry_count",
        "last_retried",
        "created_at",
    ]
    row = {k: view.get(k) for k in keys}
    if data:
        row["version_id"] = view.get("version_id")
        row["depends_on"] = view.get("depends_on")
        row["data"] = view.get("data")
    return row


@journal_app.command("status")
@api_command()
def status(
    client: ServerClient,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Rows per state, full sync state, and each server's controller connection."""
    data = client.get_json("/v1/journal/status")["journal"]
    flat = {
        "enabled": data["enabled"],
        "controller": data["controller"],
        **{f"rows_{k}": v for k, v in data["rows"].items()},
        "full_sync": data["full_sync"]["state"],
        "full_sync_history": " -> ".join(h["state"] for h in data["full_sync"]["history"][-10:]),
        "connections": ", ".join(f"{m['process']}={m['state']}" for m in data["monitors"]),
    }
    if fmt in (Format.json, Format.yaml) and not columns:
        emit_one(data, fmt)
    else:
        emit_one(flat, fmt, columns)


@journal_app.command("list")
@api_command()
def list_rows(
    client: ServerClient,
    state: RowState | None = typer.Option(None, "--state", help="Only rows in this state."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """List journal rows, oldest first."""
    params: dict[str, Any] = {"limit": limit}
    if state is not None:
        params["state"] = state.value
    rows = client.get_json("/v1/journal/rows", **params)["rows"]
    emit_list([_row(r) for r in rows], fmt, columns)


@journal_app.command("show")
@api_command()
def show(
    client: ServerClient,
    seqnum: int,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """One row with its data and the rows it waits for."""
    view = client.get_json(f"/v1/journal/rows/{seqnum}")["row"]
    emit_one(_row(view, data=True), fmt, columns)


@journal_app.command("retry")
@api_command()
def retry(
    client: ServerClient,
    seqnum: int,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Put a failed row back to pending with its tries reset (fix the cause first)."""
    view = client.request("POST", f"/v1/journal/rows/{seqnum}/retry").json()["row"]
    emit_one(_row(view), fmt, columns)


@journal_app.command("cleanup")
@api_command()
def cleanup(
    client: ServerClient,
    older_than: float | None = typer.Option(
        None,
        "--older-than",
        min=0,
        help="Delete completed rows older than this (s); default completed_rows_retention.",
    ),
    fmt: Format = FormatOption,
) -> None:
    """Reset rows stuck in processing and delete completed rows past retention, now."""
    params = {"older_than": older_than} if older_than is not None else None
    result = client.request("POST", "/v1/journal/cleanup", params=params).json()["cleanup"]
    emit_one(
        {
            "reset_to_pending": len(result["reset_to_pending"]),
            "deleted_completed": result["deleted_completed"],
        },
        fmt,
    )


@journal_app.command("full-sync")
@api_command()
def full_sync(
    client: ServerClient,
) -> None:
    """Ask the maintenance role (whichever server holds it) for a full sync now."""
    client.request("POST", "/v1/journal/full-sync")
    typer.echo("full sync requested")


def controller_shim(
    port: int = typer.Option(8181, "--port"),
    host: str = typer.Option("127.0.0.1", "--host"),
    persist: Path | None = typer.Option(None, "--persist", help="Keep state in this file."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="Delay every northbound call."),
    username: str = typer.Option("admin", "--username"),
    password: str = typer.Option("admin", "--password"),
) -> None:
    """Run an OpenDaylight-compatible Neutron northbound with fault injection (for tests)."""
    import uvicorn

    from stateward.testing.controller_shim import create_app

    app = create_app(persist=persist, latency_ms=latency_ms, username=username, password=password)
    typer.echo(f"controller shim on http://{host}:{port}/controller/nb/v2/neutron", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def emulate(
    server: list[str] = typer.Option(..., "--server", help="A Stateward server (repeat)."),
    shim: str = typer.Option(..., "--shim", help="The controller shim's base URL."),
    username: str = typer.Option("admin", "--username"),
    password: str = typer.Option(..., "--password", envvar="STATEWARD_ADMIN_PASSWORD"),
    project: str = typer.Option("admin", "--project"),
    networks: int = typer.Option(20, "--networks", help="Tenant chains (one network each)."),
    ports: int = typer.Option(5, "--ports", help="Ports per network."),
    updates: int = typer.Option(2, "--updates", help="Updates per port."),
    delete_fraction: float = typer.Option(0.3, "--delete-fraction"),
    concurrency: int = typer.Option(8, "--concurrency", help="Chains running at once."),
    converge_timeout: float = typer.Option(120.0, "--converge-timeout"),
    seed: int = typer.Option(1, "--seed"),
    report: Path | None = typer.Option(None, "--report", help="Write the JSON report here."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Drive API load on several servers, then check the shim equals the store (exit 1 if
    not, or if any object's operations were applied out of order)."""
    import asyncio
    import json

    from stateward.testing.emulator import emulate as run_emulation

    result = asyncio.run(
        run_emulation(
            server,
            shim,
            username=username,
            password=password,
            project=project,
            networks=networks,
            ports=ports,
            updates=updates,
            delete_fraction=delete_fraction,
            concurrency=concurrency,
            converge_timeout=converge_timeout,
            seed=seed,
            progress=progress,
        )
    )
    text = json.dumps(result, indent=2, default=str)
    if report:
        report.write_text(text)
    typer.echo(text)
    raise typer.Exit(0 if result["ok"] else 1)
