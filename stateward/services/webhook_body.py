"""What an alarm webhook carries: Aodh's REST notifier body and the request headers."""

from __future__ import annotations

import json
from typing import Any

from stateward.domain.alarm import Alarm
from stateward.domain.events import TraceContext
from stateward.profiler.stamp import trace_headers

USER_AGENT = "stateward-alarm-notifier"


def webhook_body(
    alarm: Alarm, previous: str, current: str, reason: str, reason_data: dict[str, Any]
) -> dict[str, Any]:
    """Aodh's REST notifier body."""
    return {
        "alarm_name": alarm.name,
        "alarm_id": alarm.alarm_id,
        "severity": alarm.severity,
        "previous": previous,
        "current": current,
        "reason": reason,
        "reason_data": reason_data,
    }


def encode(body: dict[str, Any]) -> bytes:
    """The body once, as bytes: the same bytes are sent to every action and on every retry."""
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def webhook_headers(
    trace: TraceContext | None, *, host: str, notification_id: str | None = None
) -> dict[str, str]:
    """JSON, our user agent, the original ``Host`` (the connection goes to the checked
    address), the profiler's trace (so the consumer can post T09/T10 back) and an id the
    receiver can drop a redelivered notification by."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": host,
    }
    if notification_id:
        headers["X-Stateward-Notification-Id"] = notification_id
    headers.update(trace_headers(trace))
    return headers
