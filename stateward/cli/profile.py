"""``stateward profile list|show|import-log``: the performance profiler's console.

With a server (``--server``/``STATEWARD_URL`` and a token or credentials) the commands read
the profiles stored by the roles; with ``--log FILE...`` they work offline, from the JSON-line
logs of one or several processes (no server, no database: the seed's "independent package").
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from stateward.cli.client import (
    ClientError,
    OsCloudOption,
    PasswordOption,
    ProjectOption,
    ServerClient,
    ServerOption,
    TokenOption,
    UsernameOption,
    make_client,
)
from stateward.cli.output import (
    ColumnOption,
    Format,
    FormatOption,
    console,
    emit_list,
    emit_one,
)
from stateward.profiler.logs import ImportReport, import_logs, sorted_profiles
from stateward.profiler.model import Profile
from stateward.profiler.png import render_png
from stateward.profiler.render import list_table, render_svg, render_text

app = typer.Typer(help="Performance profiles of the fault path (checkpoints T00..T10).")

LogOption = typer.Option(
    None, "--log", help="Work offline from these JSON-line log files (repeatable)."
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _offline(logs: list[Path]) -> tuple[list[Profile], ImportReport]:
    report = ImportReport()
    missing = [str(p) for p in logs if not p.is_file()]
    if missing:
        raise _fail(f"no such log file: {', '.join(missing)}", 2)
    return sorted_profiles(import_logs(logs, report)), report


def _pick(profiles: list[Profile], wanted: str) -> Profile:
    exact = [p for p in profiles if p.trace_id == wanted]
    matches = exact or [p for p in profiles if p.trace_id.startswith(wanted)]
    if not matches:
        raise _fail(f"profile {wanted} not found in the logs")
    if len(matches) > 1:
        raise _fail(f"profile id {wanted} is ambiguous: {len(matches)} profiles match")
    return matches[0]


def _with_client(client: ServerClient, fn: Any) -> Any:
    try:
        with client:
            return fn(client)
    except ClientError as exc:
        raise _fail(exc.message)


def _show(profile: Profile, fmt: Format, svg: Path | None, png: Path | None) -> None:
    if svg is not None:
        svg.write_text(render_svg(profile))
        typer.echo(f"wrote {svg}", err=True)
    if png is not None:
        png.write_bytes(render_png(profile))
        typer.echo(f"wrote {png}", err=True)
    if fmt is Format.table:
        typer.echo(render_text(profile), nl=False)
    elif fmt is Format.json:
        typer.echo(json.dumps(profile.to_export(), indent=2))
    else:
        export = profile.to_export()
        emit_one({k: v for k, v in export.items() if not isinstance(v, list | dict)}, fmt)


def _summaries(profiles: list[Profile]) -> list[dict[str, Any]]:
    return [p.summary() for p in profiles]


@app.command("list")
def profile_list(
    logs: list[Path] | None = LogOption,
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many (server)."),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    server: str | None = ServerOption,
    token: str | None = TokenOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    project: str | None = ProjectOption,
    os_cloud: str | None = OsCloudOption,
) -> None:
    """List profiles: from the server (newest first) or, with --log, from log files."""
    if logs:
        profiles, _ = _offline(logs)
        rows = _summaries(profiles)
    else:
        client = make_client(server, token, username, password, project, os_cloud)
        rows = _with_client(client, lambda c: c.get_json("/v1/profiles", limit=limit)["profiles"])
    _emit_summaries(rows, fmt, columns)


def _emit_summaries(
    rows: list[dict[str, Any]], fmt: Format, columns: list[str] | None = None
) -> None:
    if fmt is Format.table and not columns:
        # Wide enough that trace ids are never cut: they are what users copy.
        Console(width=max(console.width, 150)).print(list_table(rows))
    else:
        emit_list(rows, fmt, columns)


@app.command("show")
def profile_show(
    profile_id: str = typer.Argument(..., metavar="ID", help="The profile (trace) id."),
    logs: list[Path] | None = LogOption,
    svg: Path | None = typer.Option(None, "--svg", help="Also write the profile as SVG here."),
    png: Path | None = typer.Option(None, "--png", help="Also write the profile as PNG here."),
    fmt: Format = FormatOption,
    server: str | None = ServerOption,
    token: str | None = TokenOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    project: str | None = ProjectOption,
    os_cloud: str | None = OsCloudOption,
) -> None:
    """Draw a profile: the timeline T00..T10 and the components sorted by time cost.

    ``-f json`` prints the export (T00..T10 in ms from T00, module spans M00..).
    """
    if logs:
        profiles, _ = _offline(logs)
        profile = _pick(profiles, profile_id)
    else:
        client = make_client(server, token, username, password, project, os_cloud)
        export = _with_client(client, lambda c: c.get_json(f"/v1/profiles/{profile_id}"))
        profile = Profile.from_export(export["profile"])
    _show(profile, fmt, svg, png)


@app.command("import-log")
def profile_import_log(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="JSON-line log files."),
    store: bool = typer.Option(
        False, "--store/--no-store", help="Also send the rebuilt profiles to the server."
    ),
    fmt: Format = FormatOption,
    server: str | None = ServerOption,
    token: str | None = TokenOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    project: str | None = ProjectOption,
    os_cloud: str | None = OsCloudOption,
) -> None:
    """Rebuild profiles from the logs of several processes, merged by trace id.

    Prints them (one timeline each, or ``-f json``: a list of exports); with ``--store`` also
    posts every profile's checkpoints to the server (already stored checkpoints are kept).
    """
    profiles, report = _offline(files)
    for problem in report.skipped:
        typer.echo(f"skipped {problem}", err=True)
    typer.echo(
        f"{len(profiles)} profile(s), {report.checkpoints} checkpoint(s) from "
        f"{len(report.files)} file(s)",
        err=True,
    )
    if store and profiles:
        client = make_client(server, token, username, password, project, os_cloud)
        _with_client(client, lambda c: _post_profiles(c, profiles))
    if fmt is Format.json:
        typer.echo(json.dumps([p.to_export() for p in profiles], indent=2))
    elif fmt is Format.table:
        for profile in profiles:
            typer.echo(render_text(profile))
    else:
        _emit_summaries(_summaries(profiles), fmt)


def _post_profiles(client: ServerClient, profiles: list[Profile]) -> None:
    for profile in profiles:
        by_process: dict[str, dict[str, float]] = defaultdict(dict)
        for name, t in profile.checkpoints.items():
            process = str(profile.checkpoint_meta.get(name, {}).get("process", ""))
            by_process[process][name] = t
        recorded = 0
        for process, checkpoints in by_process.items():
            answer = client.post_json(
                f"/v1/profiles/{profile.trace_id}/checkpoints",
                {"checkpoints": checkpoints, "process": process, "meta": {"source": "logs"}},
            )
            recorded += len(answer["recorded"])
        typer.echo(f"stored {profile.trace_id}: {recorded} new checkpoint(s)", err=True)
