"""The profile of one fault's path through the system: checkpoints, modules, export.

Pure: no I/O, no framework. The catalogue follows the Doctor performance-profiler design
(seed 001, ``performance-profiler.rst``): eleven checkpoints ``T00``..``T10`` on one timeline,
and modules ``M00``.. as the spans between module boundaries.

How the modules are derived from the seed's timeline. The seed draws the checkpoints as a
staircase and labels the columns under it ``sample monitor | sample inspector | nova | c/m |
aodh`` followed by the consumer (the manager that receives and handles the alarm). Stateward
plays those parts with its own roles, so the modules are named after the role that owns the
span, and every span between two consecutive checkpoints belongs to exactly one module:

======  ==========  ===========  ===================================================
module  name        span         what happens (seed label -> Stateward role)
======  ==========  ===========  ===================================================
M00     monitor     T00 -> T01   host down until the raw failure is reported
                                 (sample monitor -> any monitor posting a raw failure)
M01     inspector   T01 -> T03   found the affected VMs, marked the host down
                                 (sample inspector -> the inspector role)
M02     controller  T03 -> T04   the state API sets the VMs to error (nova -> compute
                                 state use case)
M03     notifier    T04 -> T05   the state change is notified on the bus (nova's
                                 notification -> outbox relay)
M04     evaluator   T05 -> T08   transformed into an event at the evaluator's intake
                                 (T06), evaluated (T07), alarm fired (T08)
                                 (ceilometer + aodh -> the alarm evaluator)
M05     consumer    T08 -> T10   alarm received (T09) and handled (T10) by the
                                 consumer (the manager, which posts T09/T10 back)
======  ==========  ===========  ===================================================

The seed gives the transformation (T05 -> T06) to ceilometer; Stateward has no separate
transformer (the evaluator's intake turns the notification into an event), so that step is
part of the evaluator's module. The modules tile the timeline: their sum is ``T10 - T00``.

Times are absolute epoch seconds (floats) while recorded; exports are in milliseconds from
``T00`` (or from the earliest checkpoint when ``T00`` is missing, which is reported).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Two checkpoints stamped by different hosts may disagree by clock skew; less than this is
# not reported as an ordering problem.
ORDER_TOLERANCE_S = 0.0005


@dataclass(frozen=True, slots=True)
class Checkpoint:
    name: str  # "T00"
    label: str  # "host down"
    index: int
    stamped_by: str  # the role expected to stamp it


@dataclass(frozen=True, slots=True)
class Module:
    id: str  # "M00"
    name: str  # "monitor"
    start: str  # first checkpoint of the span
    end: str  # last checkpoint of the span
    description: str


CHECKPOINTS: tuple[Checkpoint, ...] = (
    Checkpoint("T00", "host down", 0, "monitor"),
    Checkpoint("T01", "raw failure", 1, "inspector"),
    Checkpoint("T02", "found affected", 2, "inspector"),
    Checkpoint("T03", "marked host down", 3, "inspector"),
    Checkpoint("T04", "set VM error", 4, "controller"),
    Checkpoint("T05", "notified VM error", 5, "notifier"),
    Checkpoint("T06", "transformed event", 6, "evaluator"),
    Checkpoint("T07", "evaluated event", 7, "evaluator"),
    Checkpoint("T08", "fired alarm", 8, "evaluator"),
    Checkpoint("T09", "received alarm", 9, "consumer"),
    Checkpoint("T10", "handled alarm", 10, "consumer"),
)
BY_NAME: dict[str, Checkpoint] = {c.name: c for c in CHECKPOINTS}
NAMES: tuple[str, ...] = tuple(c.name for c in CHECKPOINTS)

MODULES: tuple[Module, ...] = (
    Module("M00", "monitor", "T00", "T01", "host down until the raw failure is reported"),
    Module("M01", "inspector", "T01", "T03", "affected VMs found, host marked down"),
    Module("M02", "controller", "T03", "T04", "state API sets the VMs to error"),
    Module("M03", "notifier", "T04", "T05", "state change notified on the bus"),
    Module("M04", "evaluator", "T05", "T08", "event transformed, evaluated, alarm fired"),
    Module("M05", "consumer", "T08", "T10", "alarm received and handled by the consumer"),
)
MODULE_BY_NAME: dict[str, Module] = {m.name: m for m in MODULES}


def module_of_step(end: str) -> Module:
    """The module owning the step that ends at checkpoint ``end`` (``T00`` has none)."""
    index = BY_NAME[end].index
    for module in MODULES:
        if BY_NAME[module.start].index < index <= BY_NAME[module.end].index:
            return module
    raise ValueError(f"{end} ends no step")


def is_checkpoint(name: str) -> bool:
    return name in BY_NAME


def valid_time(value: Any) -> bool:
    """An epoch time in seconds: a finite, positive number (not a bool)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


@dataclass(slots=True)
class ModuleSpan:
    module: Module
    ms: float | None  # None when a boundary checkpoint is missing
    percent: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.module.id,
            "name": self.module.name,
            "start": self.module.start,
            "end": self.module.end,
            "ms": self.ms,
            "percent": self.percent,
        }


@dataclass(slots=True)
class Profile:
    """One trace: absolute checkpoint times (epoch seconds) and what was said about them.

    ``add`` keeps the first time recorded for a checkpoint (stamps are idempotent; a retried
    handler does not move a checkpoint).
    """

    trace_id: str
    checkpoints: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    checkpoint_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # unknown names seen (logs, imports)

    def add(self, name: str, t: float, **meta: Any) -> bool:
        """Record a checkpoint; False when it is unknown, invalid or already recorded."""
        if name not in BY_NAME:
            self.ignored.append(name)
            return False
        if not valid_time(t):
            self.ignored.append(f"{name}={t!r}")
            return False
        if name in self.checkpoints:
            return False
        self.checkpoints[name] = float(t)
        if meta:
            self.checkpoint_meta[name] = dict(meta)
        return True

    def merge(self, other: Profile) -> None:
        for name, t in sorted(other.checkpoints.items(), key=lambda kv: kv[1]):
            self.add(name, t, **other.checkpoint_meta.get(name, {}))
        for key, value in other.meta.items():
            self.meta.setdefault(key, value)

    # -- derived views ---------------------------------------------------------------------

    @property
    def present(self) -> list[str]:
        """Recorded checkpoints in catalogue order."""
        return [n for n in NAMES if n in self.checkpoints]

    @property
    def missing(self) -> list[str]:
        return [n for n in NAMES if n not in self.checkpoints]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def origin(self) -> float | None:
        """T00, or the earliest checkpoint when T00 was not recorded."""
        if "T00" in self.checkpoints:
            return self.checkpoints["T00"]
        return min(self.checkpoints.values()) if self.checkpoints else None

    @property
    def started_at(self) -> float | None:
        return self.origin

    def offset_ms(self, name: str) -> float | None:
        origin = self.origin
        if name not in self.checkpoints or origin is None:
            return None
        return _ms(self.checkpoints[name] - origin)

    @property
    def total_ms(self) -> float | None:
        """From the origin to the last checkpoint recorded (T10 when complete)."""
        origin = self.origin
        if origin is None:
            return None
        return _ms(max(self.checkpoints.values()) - origin)

    def module_spans(self) -> list[ModuleSpan]:
        total = self.total_ms
        spans = []
        for module in MODULES:
            start = self.checkpoints.get(module.start)
            end = self.checkpoints.get(module.end)
            ms = _ms(end - start) if start is not None and end is not None else None
            percent = round(100.0 * ms / total, 1) if ms is not None and total else None
            spans.append(ModuleSpan(module, ms, percent))
        return spans

    def by_cost(self) -> list[ModuleSpan]:
        """Modules sorted by time cost, most first; unmeasured modules last."""
        spans = self.module_spans()
        return sorted(spans, key=lambda s: (s.ms is None, -(s.ms or 0.0), s.module.id))

    def steps(self) -> list[tuple[str, str, float]]:
        """Consecutive recorded checkpoints (in catalogue order) and the ms between them."""
        present = self.present
        return [
            (a, b, _ms(self.checkpoints[b] - self.checkpoints[a]))
            for a, b in itertools.pairwise(present)
        ]

    def problems(self) -> list[str]:
        """Everything that makes the profile less than trustworthy, in words (never raises)."""
        problems: list[str] = []
        if not self.checkpoints:
            return ["no checkpoint recorded"]
        if "T00" not in self.checkpoints:
            first = min(self.checkpoints, key=lambda n: self.checkpoints[n])
            problems.append(f"T00 (host down) missing: times are relative to {first}")
        if self.missing:
            problems.append("missing checkpoints: " + ", ".join(self.missing))
        for a, b, ms in self.steps():
            if ms < -ORDER_TOLERANCE_S * 1000:
                problems.append(
                    f"{b} ({BY_NAME[b].label}) is {-ms:.3f} ms before {a} ({BY_NAME[a].label}): "
                    "out of order (clock skew between hosts, or stamped in parallel)"
                )
        problems.extend(f"ignored unknown or invalid checkpoint {n}" for n in self.ignored)
        return problems

    # -- export ----------------------------------------------------------------------------

    def to_export(self) -> dict[str, Any]:
        """The JSON export: ``T00``..``T10`` in ms from T00, ``M00``.. module spans, details.

        Missing checkpoints and unmeasurable modules are ``null``; ``problems`` says why.
        """
        origin = self.origin
        spans = self.module_spans()
        export: dict[str, Any] = {
            "id": self.trace_id,
            "trace_id": self.trace_id,
            "started_at": _iso(origin) if origin is not None else None,
            "origin": origin,
            "total_ms": self.total_ms,
            "complete": self.complete,
        }
        export.update({name: self.offset_ms(name) for name in NAMES})
        export.update({span.module.id: span.ms for span in spans})
        export["checkpoints"] = [
            {
                "name": c.name,
                "label": c.label,
                "ms": self.offset_ms(c.name),
                "at": _iso(self.checkpoints[c.name]) if c.name in self.checkpoints else None,
                "t": self.checkpoints.get(c.name),
                "meta": self.checkpoint_meta.get(c.name, {}),
            }
            for c in CHECKPOINTS
        ]
        export["modules"] = [span.to_dict() for span in spans]
        export["by_cost"] = [span.module.name for span in self.by_cost() if span.ms is not None]
        export["missing"] = self.missing
        export["problems"] = self.problems()
        export["meta"] = dict(self.meta)
        return export

    @classmethod
    def from_export(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild a profile from its export (absolute times come from each ``t``)."""
        profile = cls(trace_id=str(data["trace_id"]), meta=dict(data.get("meta") or {}))
        for item in data.get("checkpoints") or []:
            if item.get("t") is not None:
                profile.add(str(item["name"]), item["t"], **(item.get("meta") or {}))
        return profile

    def summary(self) -> dict[str, Any]:
        """One line of a profile listing."""
        worst = next((s for s in self.by_cost() if s.ms is not None), None)
        return {
            "id": self.trace_id,
            "started_at": _iso(self.origin) if self.origin is not None else None,
            "total_ms": self.total_ms,
            "checkpoints": len(self.checkpoints),
            "complete": self.complete,
            "slowest": f"{worst.module.name} ({worst.ms} ms)" if worst else None,
        }
