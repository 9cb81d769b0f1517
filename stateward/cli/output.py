"""``-f table|json|yaml|value`` and ``-c COLUMN`` for every list and show command."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    value = "value"


FormatOption = typer.Option(Format.table, "-f", "--format", help="Output format.")
ColumnOption = typer.Option(None, "-c", "--column", help="Show only this column (repeatable).")

console = Console()


def _console() -> Console:
    """On a terminal, its width (long cells fold onto more lines); into a pipe or a file, no
    width at all, so nothing (a host name, an id) is ever cut."""
    return console if console.is_terminal else Console(width=100_000)


def _table(*headers: str) -> Table:
    table = Table()
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _pick(rows: Sequence[dict[str, Any]], columns: list[str] | None) -> list[dict[str, Any]]:
    if not columns:
        return [dict(r) for r in rows]
    return [{c: r.get(c) for c in columns} for r in rows]


def emit_list(
    rows: Sequence[dict[str, Any]], fmt: Format, columns: list[str] | None = None
) -> None:
    picked = _pick(rows, columns)
    if fmt is Format.json:
        typer.echo(json.dumps(picked, indent=2, default=str))
    elif fmt is Format.yaml:
        typer.echo(yaml.safe_dump(json.loads(json.dumps(picked, default=str)), sort_keys=False))
    elif fmt is Format.value:
        for row in picked:
            typer.echo(" ".join(_cell(v) for v in row.values()))
    else:
        headers = list(picked[0].keys()) if picked else list(columns or [])
        table = _table(*[h.replace("_", " ").title() for h in headers])
        for row in picked:
            table.add_row(*[_cell(row.get(h)) for h in headers])
        _console().print(table)


def emit_one(item: dict[str, Any], fmt: Format, columns: list[str] | None = None) -> None:
    picked = _pick([item], columns)[0]
    if fmt is Format.json:
        typer.echo(json.dumps(picked, indent=2, default=str))
    elif fmt is Format.yaml:
        typer.echo(yaml.safe_dump(json.loads(json.dumps(picked, default=str)), sort_keys=False))
    elif fmt is Format.value:
        for value in picked.values():
            typer.echo(_cell(value))
    else:
        table = _table("Field", "Value")
        for key, value in picked.items():
            table.add_row(key, _cell(value))
        _console().print(table)
