"""Two ``serve`` processes on PostgreSQL + NATS: one matching event fires the alarm exactly once,
whichever process receives it, and an alarm created through one process is seen by the other."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.server import start_server
from tests.support.webhook import WebhookReceiver

pytestmark = [pytest.mark.postgres, pytest.mark.nats]


def test_two_processes_fire_one_alarm_exactly_once(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {
        "STATEWARD_BUS__STREAM": subject_prefix,
        "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix,
    }
    first = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="a")
    second = start_server(tmp_path, db=pg_url, bus=nats_url, env=env, name="b")
    try:
        token = first.token()
        with WebhookReceiver() as hook:
            alarms = []
            with first.client(token) as client:
                for i in range(4):
                    response = client.post(
                        "/v2/alarms",
                        json={
                            "name": f"vm-error-{i}",
                            "type": "event",
                            "alarm_actions": [f"{hook.url}/alarm/{i}"],
                            "event_rule": {
                                "event_type": "compute.instance.update",
                                "query": [
                                    {"field": "traits.instance_id", "op": "eq", "value": f"vm-{i}"},
                                    {"field": "traits.state", "op": "eq", "value": "error"},
                                ],
                            },
                        },
                    )
                    assert response.status_code == 201, response.text
                    alarms.append(response.json())
                project = alarms[0]["project_id"]
            # the events go in through the OTHER process; each matching event is sent twice, so
            # the two copies may be evaluated in both processes at once (compare-and-set wins)
            with second.client(second.token()) as client:
                for i in range(4):
                    event = {
                        "event_type": "compute.instance.update",
                        "project_id": project,
                        "traits": {"instance_id": f"vm-{i}", "state": "error"},
                    }
                    for _ in range(2):
                        assert client.post("/v1/events", json=event).status_code == 202
                    client.post(
                        "/v1/events",
                        json={**event, "traits": {"instance_id": f"vm-{i}", "state": "active"}},
                    )
            hook.wait_for(4, timeout=20)
            time.sleep(1.5)  # a duplicate fire would arrive within this
            assert sorted(hook.paths) == [f"/alarm/{i}" for i in range(4)]
            with second.client(token) as client:
                for alarm in alarms:
                    shown = client.get(f"/v2/alarms/{alarm['alarm_id']}").json()
                    assert shown["state"] == "alarm"
                    history = client.get(f"/v2/alarms/{alarm['alarm_id']}/history").json()
                    assert [h["type"] for h in history].count("state transition") == 1
        # four fires across both processes' logs (one summary line per committed batch)
        fired = [
            sum(r.get("fired", 0) for r in server.log_records() if r.get("event") == "alarms fired")
            for server in (first, second)
        ]
        assert sum(fired) == 4, fired
    finally:
        first.stop()
        second.stop()
