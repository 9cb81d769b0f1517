"""The one event envelope used by every publisher and consumer in Stateward.

Notifications follow OpenStack's: an ``event_type`` such as ``port.update.end``, flat ``traits``
that alarms can match, and the resource's representation in ``payload``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INFO = "INFO"
ERROR = "ERROR"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Carries the profiler's trace across processes (bus headers, webhook headers)."""

    trace_id: str
    parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "parent": self.parent}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TraceContext | None:
        if not data or not data.get("trace_id"):
            return None
        return cls(trace_id=str(data["trace_id"]), parent=data.get("parent"))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A notification. ``message_id`` is what consumers deduplicate on."""

    event_type: str
    publisher_id: str
    traits: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    project_id: str | None = None
    resource_id: str | None = None
    priority: str = INFO
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    generated: datetime = field(default_factory=utcnow)
    trace: TraceContext | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "event_type": self.event_type,
            "generated": self.generated.isoformat(),
            "publisher_id": self.publisher_id,
            "priority": self.priority,
            "project_id": self.project_id,
            "resource_id": self.resource_id,
            "traits": self.traits,
            "payload": self.payload,
            "trace": self.trace.to_dict() if self.trace else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        generated = datetime.fromisoformat(data["generated"])
        if generated.tzinfo is None:
            generated = generated.replace(tzinfo=UTC)
        return cls(
            message_id=str(data["message_id"]),
            event_type=str(data["event_type"]),
            generated=generated,
            publisher_id=str(data.get("publisher_id", "")),
            priority=str(data.get("priority", INFO)),
            project_id=data.get("project_id"),
            resource_id=data.get("resource_id"),
            traits=dict(data.get("traits") or {}),
            payload=dict(data.get("payload") or {}),
            trace=TraceContext.from_dict(data.get("trace")),
        )


def deterministic_id(*parts: object) -> str:
    """A message id derived from what the event is about, so re-emitting it is a duplicate."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "stateward:" + ":".join(str(p) for p in parts)))
