"""One project with N per-VM event alarms (Doctor's VNFM watching each of its servers) and a
stream of compute.instance.update events, as plain data: shared by bench/alarms.py and by
bench/alarms_aodh.py, which runs in aodh's own venv and cannot import Stateward."""

from __future__ import annotations

import random
from typing import Any

PROJECT = "project-vnf"


def scenario(
    n_alarms: int, n_events: int, seed: int = 11
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    alarms = []
    for i in range(n_alarms):
        alarms.append(
            {
                "alarm_id": f"alarm-{i:06d}",
                "project_id": PROJECT,
                "event_type": "compute.instance.update",
                "query": [
                    {
                        "field": "traits.instance_id",
                        "op": "eq",
                        "value": f"vm-{i:06d}",
                        "type": "string",
                    },
                    {"field": "traits.state", "op": "eq", "value": "error", "type": "string"},
                ],
            }
        )
    events = []
    for j in range(n_events):
        watched = rng.random() < 0.5
        instance = f"vm-{rng.randrange(n_alarms):06d}" if watched else f"vm-other-{j}"
        events.append(
            {
                "message_id": f"msg-{j}",
                "event_type": "compute.instance.update",
                "project_id": PROJECT,
                "traits": {
                    "tenant_id": PROJECT,
                    "instance_id": instance,
                    "state": "error" if rng.random() < 0.02 else "active",
                    "host": f"compute-{rng.randrange(100)}",
                },
            }
        )
    return alarms, events
