"""The per-chassis agent feed's rules (pure): objects, changes, and the agent's cursor.

A chassis' feed is what its agent needs to know, as a set of objects (``kind`` + ``key`` ->
``data``), plus an ordered log of changes to that set. Every change carries the chassis'
sequence number: consecutive, starting at 1, within one *epoch* (the feed's identity; a new
epoch means the log was started afresh and the agent must take a snapshot). This is OVN's
southbound monitor ``monitor_cond_since`` idea on a smaller scale: snapshot once, then ask
for what came after the last sequence number seen.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SIGNAL_PREFIX = "agent_feed"
PUT = "put"
DELETE = "delete"
OPS = (PUT, DELETE)


@dataclass(frozen=True, slots=True)
class FeedObject:
    """One object of a chassis' view, as the agent receives it."""

    kind: str
    key: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "data": self.data}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeedObject:
        return cls(str(raw["kind"]), str(raw["key"]), dict(raw.get("data") or {}))


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a chassis' log: ``put`` (the object's whole new state) or ``delete``."""

    seq: int
    kind: str
    key: str
    op: str
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "key": self.key,
            "op": self.op,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Change:
        op = str(raw["op"])
        if op not in OPS:
            raise ValueError(f"unknown feed op {op!r}")
        data = raw.get("data")
        return cls(
            int(raw["seq"]),
            str(raw["kind"]),
            str(raw["key"]),
            op,
            dict(data) if data is not None else None,
        )


class Outcome(Enum):
    """What an agent's cache did with a batch of changes."""

    APPLIED = "applied"  # some or all were new and are now applied
    STALE = "stale"  # nothing new (a duplicate or an old batch)
    GAP = "gap"  # changes are missing before this batch: catch up with ``since``
    RESYNC = "resync"  # another epoch: take a snapshot


@dataclass
class FeedCache:
    """The agent's copy of its chassis' view, at ``seq`` of ``epoch``.

    Applying is idempotent and only ever moves forward: a batch that starts after the next
    expected number is a gap (nothing applied), entries at or below ``seq`` are skipped.
    """

    epoch: str | None = None
    seq: int = 0
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def load(self, epoch: str, seq: int, objects: Iterable[FeedObject]) -> None:
        self.epoch, self.seq = epoch, seq
        self.objects = {}
        for obj in objects:
            self.objects.setdefault(obj.kind, {})[obj.key] = obj.data

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.objects.get(kind, {})

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self.objects.get(kind, {}).get(key)

    def apply(self, epoch: str, changes: list[Change]) -> tuple[Outcome, list[Change]]:
        """Apply what is new in ``changes`` (sorted by seq); returns the outcome and what was
        applied, in order."""
        if epoch != self.epoch:
            return Outcome.RESYNC, []
        fresh = [c for c in changes if c.seq > self.seq]
        if not fresh:
            return Outcome.STALE, []
        if fresh[0].seq != self.seq + 1:
            return Outcome.GAP, []
        applied: list[Change] = []
        for change in fresh:
            if change.seq != self.seq + 1:
                break  # a hole inside the batch: keep what is contiguous
            if change.op == PUT:
                self.objects.setdefault(change.kind, {})[change.key] = dict(change.data or {})
            else:
                of_kind = self.objects.get(change.kind, {})
                of_kind.pop(change.key, None)
                if not of_kind:
                    self.objects.pop(change.kind, None)
            self.seq = change.seq
            applied.append(change)
        return Outcome.APPLIED, applied


def subject_token(chassis: str) -> str:
    """A NATS subject token for a chassis name (names may hold dots, tokens may not): a
    readable part plus a digest, so ``a.b`` and ``a_b`` never share a subject."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", chassis)[:64]
    return f"{readable}-{hashlib.sha256(chassis.encode()).hexdigest()[:8]}"


def signal_subject(chassis: str) -> str:
    """The bus subject (signal) a chassis' new feed entries are announced on."""
    return f"{SIGNAL_PREFIX}.{subject_token(chassis)}"
