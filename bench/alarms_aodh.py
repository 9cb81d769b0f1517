"""aodh 23's own EventAlarmEvaluator on bench/alarm_scenario.py, for bench/alarms.py --aodh-venv.

Runs in aodh's venv (bench/requirements-aodh.txt): its evaluator in-process with an in-memory
stand-in for the storage connection and a no-op notifier, logging at WARNING (its most favourable
setting), event alarm cache on (its default TTL of 60 s, so the store is read once per project).
Prints one JSON line per size: {"alarms", "events", "per_second"}.

    /tmp/aodh-venv/bin/python bench/alarms_aodh.py 1000 10000
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alarm_scenario import scenario
from aodh.evaluator import event as aodh_event
from aodh.storage import models


class MemoryStorage:
    def __init__(self, alarms: list[models.Alarm]) -> None:
        self.alarms = alarms

    def get_alarms(
        self,
        enabled: bool = True,
        type: str | None = None,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> list[models.Alarm]:
        assert not kwargs, f"unexpected storage filter {kwargs}"
        return [
            a
            for a in self.alarms
            if a.project_id == project_id and a.type == type and a.enabled == enabled
        ]

    def update_alarm(self, alarm: models.Alarm) -> models.Alarm:
        return alarm

    def record_alarm_change(self, _change: Any) -> None:
        pass


class NoopNotifier:
    def notify(self, *_args: Any) -> None:
        pass


def evaluator(alarms: list[models.Alarm]) -> aodh_event.EventAlarmEvaluator:
    ev = aodh_event.EventAlarmEvaluator.__new__(aodh_event.EventAlarmEvaluator)
    ev.conf = SimpleNamespace(
        event_alarm_cache_ttl=60, record_history=False, enable_evaluation_results_metrics=False
    )
    ev.caches = {}
    ev.storage_conn = MemoryStorage(alarms)
    ev.notifier = NoopNotifier()
    ev._ks_client = None
    ev._alarm_change_notifier = None
    return ev


def run(n_alarms: int, n_events: int) -> dict[str, float]:
    raw_alarms, raw_events = scenario(n_alarms, n_events)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    alarms = [
        models.Alarm(
            alarm_id=a["alarm_id"],
            type="event",
            enabled=True,
            name=a["alarm_id"],
            description="",
            timestamp=now,
            user_id="u",
            project_id=a["project_id"],
            state="insufficient data",
            state_timestamp=now,
            state_reason="",
            ok_actions=[],
            alarm_actions=["log://"],
            insufficient_data_actions=[],
            repeat_actions=False,
            rule={"event_type": a["event_type"], "query": a["query"]},
            time_constraints=[],
            severity="low",
        )
        for a in raw_alarms
    ]
    events = [
        {
            "message_id": e["message_id"],
            "event_type": e["event_type"],
            "traits": [[k, 1, v] for k, v in e["traits"].items()],
        }
        for e in raw_events
    ]
    ev = evaluator(alarms)
    ev.evaluate_events(events[:1])  # fill its cache (one store read per project)
    assert len(ev.caches[raw_alarms[0]["project_id"]]["alarms"]) == n_alarms
    started, cpu_started = time.perf_counter(), time.thread_time()
    for e in events:
        ev.evaluate_events(e)
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu_started
    return {
        "alarms": n_alarms,
        "events": n_events,
        "per_second": n_events / cpu,  # per CPU-second, as bench/alarms.py reports
        "wall_per_second": n_events / elapsed,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    for size in (int(s) for s in sys.argv[1:] or ["1000", "10000"]):
        n_events = max(50, min(5000, 2_000_000 // size))
        print(json.dumps(run(size, n_events)), flush=True)
