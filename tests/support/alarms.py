"""Doctor-style alarms and events for tests: one alarm per VM, fired by that VM going to error."""

from __future__ import annotations

from typing import Any

from stateward.domain.alarm import Alarm, parse_event_rule
from stateward.domain.events import Envelope, utcnow


def vm_error_alarm(n: int, action: str, *, project: str = "p1", **kw: Any) -> Alarm:
    """Alarm ``n``: ``compute.instance.update`` with ``instance_id`` vm-n and ``state`` error."""
    now = utcnow()
    values: dict[str, Any] = {"timestamp": now, "state_timestamp": now, "generation": 1, **kw}
    return Alarm(
        alarm_id=f"00000000-0000-4000-8000-{n:012d}",
        name=f"vm-{n}-error",
        project_id=project,
        user_id="u",
        rule=parse_event_rule(
            {
                "event_type": "compute.instance.update",
                "query": [
                    {"field": "traits.instance_id", "op": "eq", "value": f"vm-{n}"},
                    {"field": "traits.state", "op": "eq", "value": "error"},
                ],
            }
        ),
        alarm_actions=(action,),
        **values,
    )


def vm_error(n: int, *, project: str = "p1") -> Envelope:
    """VM ``n`` went to error (what fires ``vm_error_alarm(n, ...)``)."""
    return Envelope(
        event_type="compute.instance.update",
        publisher_id="test",
        project_id=project,
        traits={"instance_id": f"vm-{n}", "state": "error"},
    )
