"""The implemented-API table: read ``docs/api-support.yaml``, say which row a route belongs to,
and render the tables README.md and docs/user-guide.md show.

``python -m tests.support.api_table --write`` (what ``scripts/api-table`` runs) rewrites the
tables between their markers; the test checks they are current.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "docs" / "api-support.yaml"
TARGETS = {REPO / "README.md": "summary", REPO / "docs" / "user-guide.md": "full"}
MARKER = re.compile(r"(<!-- api-table: (\w+) -->\n)(.*?)(<!-- /api-table -->)", re.S)


@dataclass(frozen=True)
class Row:
    api: str
    prefix: str
    resource: str
    implemented: bool
    paths: tuple[str, ...]
    exact: bool = False
    probe: str | None = None
    cli: str | None = None

    def claim(self, template: str) -> int:
        """How strongly this row claims a route template (0: not at all)."""
        best = 0
        for path in self.paths:
            if template == path or (not self.exact and template.startswith(path.rstrip("/") + "/")):
                best = max(best, len(path) + (1000 if template == path else 0))
        return best


def load(source: Path = SOURCE) -> list[Row]:
    data: dict[str, Any] = yaml.safe_load(source.read_text())
    rows = []
    known = {"resource", "implemented", "paths", "exact", "probe", "cli"}
    for api in data["apis"]:
        for row in api["rows"]:
            unknown = set(row) - known
            if unknown:
                raise ValueError(f"{source.name}: {api['api']}: unknown keys {sorted(unknown)}")
            rows.append(
                Row(
                    api=api["api"],
                    prefix=api["prefix"],
                    resource=row["resource"],
                    implemented=bool(row["implemented"]),
                    paths=tuple(row["paths"]),
                    exact=bool(row.get("exact", False)),
                    probe=row.get("probe"),
                    cli=row.get("cli"),
                )
            )
    return rows


def owner(rows: list[Row], template: str) -> Row | None:
    scored = [(row.claim(template), row) for row in rows]
    best = max(scored, key=lambda x: x[0], default=(0, None))
    return best[1] if best[0] else None


def render_full(rows: list[Row]) -> str:
    lines = ["| API | resource | implemented | try it |", "|---|---|---|---|"]
    for row in rows:
        mark = "yes" if row.implemented else "no (501)"
        cli = f"`openstack {row.cli}`" if row.cli else ""
        lines.append(f"| {row.api} | {row.resource} | {mark} | {cli} |")
    return "\n".join(lines) + "\n"


def render_summary(rows: list[Row]) -> str:
    lines = ["| API | implemented | not implemented (answers 501, saying so) |", "|---|---|---|"]
    apis = list(dict.fromkeys(r.api for r in rows))
    for api in apis:
        mine = [r for r in rows if r.api == api and r.resource != "version discovery"]
        yes = ", ".join(r.resource for r in mine if r.implemented) or "-"
        no = ", ".join(r.resource for r in mine if not r.implemented) or "-"
        lines.append(f"| {api} | {yes} | {no} |")
    return "\n".join(lines) + "\n"


def rendered(text: str, rows: list[Row]) -> str:
    """``text`` with every marked table replaced by its current rendering."""

    def table(match: re.Match[str]) -> str:
        kind = match.group(2)
        body = render_summary(rows) if kind == "summary" else render_full(rows)
        return match.group(1) + body + match.group(4)

    return MARKER.sub(table, text)


def main(argv: list[str]) -> int:
    rows = load()
    stale = []
    for path in TARGETS:
        text = path.read_text()
        new = rendered(text, rows)
        if "<!-- api-table:" not in text:
            print(f"{path}: no <!-- api-table: KIND --> marker", file=sys.stderr)
            return 1
        if new != text:
            stale.append(path)
            if "--write" in argv:
                path.write_text(new)
    for path in stale:
        print(f"{'rewrote' if '--write' in argv else 'stale'}: {path.relative_to(REPO)}")
    return 1 if stale and "--write" not in argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
