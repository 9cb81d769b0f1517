"""The real aodhclient (``openstack alarm ...``) against a live server, end to end: an event alarm
is created, listed, queried, shown, updated and deleted, and a webhook receiver gets the alarm
when a matching notification is published — not for a non-matching one, nor for another
project's event."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import LiveServer, OpenStackCLI, running_server
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.cli


def publish(server: LiveServer, token: str, **event: Any) -> str:
    with server.client(token) as client:
        response = client.post("/v1/events", json=event)
    assert response.status_code == 202, response.text
    return str(response.json()["message_id"])


def make_user(server: LiveServer, tmp_path: Path, project: str, user: str) -> OpenStackCLI:
    server.stateward("project", "create", project)
    server.stateward(
        "user", "create", user, "--password", "pw-test", "--project", project, "--role", "member"
    )
    return OpenStackCLI(server, tmp_path, username=user, password="pw-test", project=project)


def _alarm_flow(server: LiveServer, tmp_path: Path) -> None:
    admin_token = server.token()
    alice = make_user(server, tmp_path, "demo", "alice")
    demo_project = alice.json("token", "issue")["project_id"]
    admin_project = OpenStackCLI(server, tmp_path).json("token", "issue")["project_id"]

    with WebhookReceiver() as hook:
        created = alice.json(
            "alarm", "create", "--type", "event", "--name", "vm-error",
            "--event-type", "compute.instance.update",
            "--query", "traits.state=string::error",
            "--alarm-action", f"{hook.url}/alarm",
        )  # fmt: skip
        alarm_id = created["alarm_id"]
        assert created["name"] == "vm-error"
        assert created["type"] == "event"
        assert created["event_type"] == "compute.instance.update"
        assert created["query"] == "traits.state = error"
        assert created["state"] == "insufficient data"
        assert created["severity"] == "low"
        assert created["project_id"] == demo_project
        assert created["alarm_actions"] == [f"{hook.url}/alarm"]

        listed = alice.json("alarm", "list")
        assert [(a["alarm_id"], a["name"], a["type"]) for a in listed] == [
            (alarm_id, "vm-error", "event")
        ]
        # the CLI's query parser needs quotes around a value with a dash
        by_query = alice.json("alarm", "list", "--query", "name='vm-error' and severity=low")
        assert [a["alarm_id"] for a in by_query] == [alarm_id]
        assert alice.json("alarm", "list", "--query", "name=other") == []
        assert alice.json("alarm", "show", alarm_id)["name"] == "vm-error"
        assert alice.json("alarm", "show", "vm-error")["alarm_id"] == alarm_id

        # aodhclient GETs the whole alarm and PUTs it back with the change
        updated = alice.json("alarm", "update", alarm_id, "--severity", "critical")
        assert updated["severity"] == "critical"
        assert updated["event_type"] == "compute.instance.update"
        assert updated["alarm_actions"] == [f"{hook.url}/alarm"]
        renamed = alice.json("alarm", "update", "--name", "vm-error-renamed", alarm_id)
        assert renamed["name"] == "vm-error-renamed"
        alice.run("alarm", "update", "--name", "vm-error", alarm_id)

        # non-matching trait, then the same trait in another project: nothing fires
        publish(
            server, admin_token, event_type="compute.instance.update", project_id=demo_project,
            traits={"instance_id": "vm-1", "state": "active"},
        )  # fmt: skip
        publish(
            server, admin_token, event_type="compute.instance.update", project_id=admin_project,
            traits={"instance_id": "vm-2", "state": "error"},
        )  # fmt: skip
        publish(
            server, admin_token, event_type="compute.instance.delete.end",
            project_id=demo_project, traits={"instance_id": "vm-1", "state": "error"},
        )  # fmt: skip
        matching = publish(
            server, admin_token, event_type="compute.instance.update", project_id=demo_project,
            traits={"instance_id": "vm-1", "state": "error", "host": "compute-7"},
        )  # fmt: skip
        received = hook.wait_for(1)
        time.sleep(0.5)  # anything wrongly fired would have arrived by now
        assert len(hook.received) == 1, hook.received
        body = received[0]
        assert hook.paths == ["/alarm"]
        assert body["alarm_id"] == alarm_id
        assert body["alarm_name"] == "vm-error"
        assert body["severity"] == "critical"
        assert body["previous"] == "insufficient data"
        assert body["current"] == "alarm"
        assert matching in body["reason"]
        event = body["reason_data"]["event"]
        assert body["reason_data"]["type"] == "event"
        assert event["message_id"] == matching
        assert event["traits"]["state"] == "error"
        assert "host" not in event["traits"]  # infrastructure withheld from a project's alarm

        # repeat_actions=false: a second matching event does not fire again
        publish(
            server, admin_token, event_type="compute.instance.update", project_id=demo_project,
            traits={"instance_id": "vm-3", "state": "error"},
        )  # fmt: skip
        time.sleep(0.5)
        assert len(hook.received) == 1

        state = alice.json("alarm", "state", "get", alarm_id)
        assert state["state"] == "alarm"
        history = alice.json("alarm-history", "show", alarm_id)
        kinds = [h["type"] for h in history]
        assert kinds.count("state transition") == 1
        assert "creation" in kinds and "rule change" in kinds
        searched = alice.json("alarm-history", "search", "--query", "type='state transition'")
        assert [h["alarm_id"] for h in searched] == [alarm_id]

        alice.run("alarm", "delete", alarm_id)
        assert alice.json("alarm", "list") == []
        missing = alice.run("alarm", "show", alarm_id, check=False)
        assert missing.returncode != 0


def test_openstack_alarm_cli_end_to_end_on_sqlite(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        _alarm_flow(server, tmp_path)


@pytest.mark.postgres
@pytest.mark.nats
def test_openstack_alarm_cli_end_to_end_on_postgresql_and_nats(
    tmp_path: Path, pg_url: str, nats_url: str, subject_prefix: str
) -> None:
    env = {"STATEWARD_BUS__STREAM": subject_prefix, "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix}
    with running_server(tmp_path, db=pg_url, bus=nats_url, env=env) as server:
        _alarm_flow(server, tmp_path)


def test_log_actions_are_admin_only(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        alice = make_user(server, tmp_path, "demo", "alice")
        refused = alice.run(
            "alarm", "create", "--type", "event", "--name", "a1", "--event-type", "x.y",
            "--alarm-action", "log://", check=False,
        )  # fmt: skip
        assert refused.returncode != 0
        assert "not authorized to create action: log://" in refused.stderr
        admin = OpenStackCLI(server, tmp_path)
        created = admin.json(
            "alarm", "create", "--type", "event", "--name", "a1", "--event-type", "x.y",
            "--alarm-action", "log://",
        )  # fmt: skip
        assert created["alarm_actions"] == ["log://"]
        capabilities = admin.json("alarming", "capabilities", "list")
        assert capabilities["api"]["alarms:query:complex"] is True


def test_operator_options_resource_id_required_and_action_allow_list(tmp_path: Path) -> None:
    env = {
        "STATEWARD_ALARMS__REQUIRE_RESOURCE_ID": "true",
        "STATEWARD_ALARMS__ACTION_ALLOW": '["10.0.0.0/8", "hooks.example.com"]',
    }
    with running_server(tmp_path, env=env) as server, server.client(server.token()) as client:
        rule = {"event_type": "compute.instance.update"}
        missing = client.post("/v2/alarms", json={"name": "a", "type": "event", "event_rule": rule})
        assert missing.status_code == 400
        assert "resource_id is required" in missing.json()["error_message"]["faultstring"]
        base = {"name": "a", "type": "event", "event_rule": rule, "resource_id": "vm-1"}
        refused = client.post("/v2/alarms", json={**base, "alarm_actions": ["http://127.0.0.1/"]})
        assert refused.status_code == 400
        assert "not an allowed destination" in refused.text
        for action in ("http://10.1.2.3:8080/hook", "https://hooks.example.com/alarm"):
            created = client.post("/v2/alarms", json={**base, "alarm_actions": [action]})
            assert created.status_code == 201, created.text
            client.delete(f"/v2/alarms/{created.json()['alarm_id']}")
