"""Rebuild profiles from the JSON-lines logs of several processes (the seed's "timestamps
from log files").

Every role logs its checkpoints (``stamp``) as one JSON object per line::

    {"event": "profile.checkpoint", "trace_id": "...", "checkpoint": "T02",
     "t": 1795306991.895445, "process_name": "inspector@h1", "meta": {...},
     "timestamp": "2026-11-22T00:23:11.895510Z", ...}

Lines that are not JSON, or not checkpoints, are skipped (a server log mixes everything);
``t`` is preferred to ``timestamp`` (which only has microseconds and is the time of the log
call, not of the checkpoint). Several files are merged by trace id; when two files stamp the
same checkpoint the earliest wins, as in the store.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stateward.profiler.model import Profile, valid_time
from stateward.profiler.stamp import EVENT


@dataclass
class ImportReport:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    checkpoints: int = 0
    skipped: list[str] = field(default_factory=list)  # "file:line: why" for bad checkpoint lines


def _time_of(record: dict[str, Any]) -> float | None:
    t = record.get("t")
    if isinstance(t, int | float) and valid_time(t):
        return float(t)
    ts = record.get("timestamp")
    if isinstance(ts, str):
        try:
            parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def _process_of(record: dict[str, Any], default: str) -> str:
    for key in ("process_name", "process"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return default


def iter_stamps(
    lines: Iterable[str], source: str = "-", report: ImportReport | None = None
) -> Iterator[tuple[str, str, float, dict[str, Any]]]:
    """``(trace_id, checkpoint, t, meta)`` for every checkpoint record in ``lines``."""
    for number, line in enumerate(lines, 1):
        if report is not None:
            report.lines += 1
        line = line.strip()
        if not line.startswith("{") or EVENT not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("event") != EVENT:
            continue
        trace_id, checkpoint, t = record.get("trace_id"), record.get("checkpoint"), _time_of(record)
        if not isinstance(trace_id, str) or not isinstance(checkpoint, str) or t is None:
            if report is not None:
                report.skipped.append(f"{source}:{number}: checkpoint record without trace/time")
            continue
        meta = dict(record.get("meta") or {}) if isinstance(record.get("meta"), dict) else {}
        meta.setdefault("process", _process_of(record, source))
        if report is not None:
            report.checkpoints += 1
        yield trace_id, checkpoint, t, meta


def profiles_from_lines(
    sources: Iterable[tuple[str, Iterable[str]]], report: ImportReport | None = None
) -> dict[str, Profile]:
    stamps: list[tuple[str, str, float, dict[str, Any]]] = []
    for name, lines in sources:
        if report is not None:
            report.files.append(name)
        stamps.extend(iter_stamps(lines, name, report))
    profiles: dict[str, Profile] = {}
    for trace_id, checkpoint, t, meta in sorted(stamps, key=lambda s: s[2]):
        profile = profiles.setdefault(trace_id, Profile(trace_id))
        profile.add(checkpoint, t, **meta)
    for profile in profiles.values():
        processes = sorted({m.get("process", "") for m in profile.checkpoint_meta.values()} - {""})
        profile.meta.setdefault("processes", processes)
        profile.meta.setdefault("source", "logs")
    return profiles


def _read(handle: IO[str]) -> Iterator[str]:
    yield from handle


def import_logs(
    paths: Iterable[Path | str], report: ImportReport | None = None
) -> dict[str, Profile]:
    """Profiles rebuilt from log files (``-`` is not special: pass real paths)."""
    with contextlib.ExitStack() as stack:
        handles = [
            stack.enter_context(Path(p).open(encoding="utf-8", errors="replace")) for p in paths
        ]
        return profiles_from_lines(((h.name, _read(h)) for h in handles), report)


def sorted_profiles(profiles: dict[str, Profile]) -> list[Profile]:
    """Oldest first (by origin)."""
    return sorted(profiles.values(), key=lambda p: (p.origin or 0.0, p.trace_id))
