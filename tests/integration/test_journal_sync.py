"""The journal against the controller shim, with real ``stateward serve`` processes."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from stateward.config import JournalConfig
from stateward.domain.journal import CANARY_NETWORK_ID
from stateward.services.journal import JournalService
from stateward.store.db import Store
from stateward.testing.controller_shim import order_violations
from stateward.testing.emulator import compare
from tests.support.hosts import server_db_url
from tests.support.server import LiveServer, start_server
from tests.support.shim import Shim, restart_shim, start_shim, wait_for

NET = "/networking/v2.0"
FAST = {
    "STATEWARD_JOURNAL__MAINTENANCE_TICK": "0.2",
    "STATEWARD_JOURNAL__PROBE_INTERVAL": "0.5",
    "STATEWARD_JOURNAL__BACKOFF_MAX": "2",
    "STATEWARD_JOURNAL__SYNC_TIMEOUT": "1",
}


def _status(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/v1/journal/status")
    response.raise_for_status()
    result: dict[str, Any] = response.json()["journal"]
    return result


def _ids(shim: Shim, collection: str) -> set[str]:
    """What the controller holds, less the canary network full sync plants there."""
    return {item["id"] for item in shim.state()[collection]} - {CANARY_NETWORK_ID}


def _oplog(shim: Shim) -> list[dict[str, Any]]:
    return [e for e in shim.oplog() if e["id"] != CANARY_NETWORK_ID]


def _store_state(client: httpx.Client) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        kind: {x["id"]: x for x in client.get(f"{NET}/{kind}s").json()[f"{kind}s"]}
        for kind in ("network", "subnet", "port")
    }


def _shim_state(shim: Shim) -> dict[str, dict[str, dict[str, Any]]]:
    state = shim.state()
    return {kind: {x["id"]: x for x in state[f"{kind}s"]} for kind in ("network", "subnet", "port")}


def _names(shim: Shim) -> list[str]:
    return [n["name"] for n in shim.state()["networks"] if n["id"] != CANARY_NETWORK_ID]


def _synced(client: httpx.Client) -> bool:
    rows = _status(client)["rows"]
    return rows["pending"] == 0 and rows["processing"] == 0


def test_changes_reach_the_controller_in_order_and_port_status_comes_back(
    tmp_path: Path,
) -> None:
    shim = start_shim(tmp_path)
    server = start_server(tmp_path, env=shim.journal_env(**FAST))
    try:
        server.stateward("project", "create", "service")
        server.stateward(
            "user",
            "create",
            "odl",
            "--password",
            "odl-pw",
            "--project",
            "service",
            "--role",
            "service",
        )
        shim.admin(
            "POST",
            "/shim/report",
            {"url": server.url, "username": "odl", "password": "odl-pw", "project": "service"},
        )
        client = server.client(server.token())
        net = client.post(f"{NET}/networks", json={"network": {"name": "n1"}}).json()["network"]
        sub = client.post(
            f"{NET}/subnets",
            json={"subnet": {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4}},
        ).json()["subnet"]
        port = client.post(f"{NET}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
        assert port["status"] == "DOWN"
        wait_for(lambda: port["id"] in _ids(shim, "ports"))
        assert _ids(shim, "networks") == {net["id"]} and _ids(shim, "subnets") == {sub["id"]}
        # The controller reports the port up; Stateward's port-status use case records it.
        wait_for(
            lambda: client.get(f"{NET}/ports/{port['id']}").json()["port"]["status"] == "ACTIVE"
        )
        # ... and the status change is itself journalled back to the controller (as an update
        # at the next revision: ODL keeps its own status, so status is not in the body).
        wait_for(
            lambda: (
                [(e["op"], e["revision"]) for e in _oplog(shim) if e["id"] == port["id"]]
                == [("create", 0), ("update", 1)]
            ),
            timeout=10,
        )
        stored = next(p for p in shim.state()["ports"] if p["id"] == port["id"])
        assert "status" not in stored and stored["binding:profile"] == "{}"
        client.put(f"{NET}/networks/{net['id']}", json={"network": {"name": "renamed"}})
        assert client.delete(f"{NET}/ports/{port['id']}").status_code == 204
        assert client.delete(f"{NET}/networks/{net['id']}").status_code == 204
        wait_for(lambda: _synced(client) and not any(_ids(shim, c) for c in shim.state()))
        ops = [(e["type"], e["op"]) for e in _oplog(shim)]
        assert ops[:3] == [("network", "create"), ("subnet", "create"), ("port", "create")]
        assert ops[-3:] == [("port", "delete"), ("subnet", "delete"), ("network", "delete")]
        assert order_violations(shim.oplog()) == []
        listed = json.loads(server.stateward("journal", "list", "-f", "json").stdout)
        assert {r["state"] for r in listed} == {"completed"}
        assert len(listed) == len(ops)
        cleaned = server.stateward("journal", "cleanup", "--older-than", "0", "-f", "json")
        assert json.loads(cleaned.stdout) == {"reset_to_pending": 0, "deleted_completed": len(ops)}
        assert json.loads(server.stateward("journal", "list", "-f", "json").stdout) == []
    finally:
        server.stop()
        shim.stop()


def test_without_journal_config_nothing_is_recorded(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        client = server.client(server.token())
        assert client.post(f"{NET}/networks", json={"network": {"name": "n"}}).status_code == 201
        status = _status(client)
        assert status["enabled"] is False and status["connection"] is None
        assert sum(status["rows"].values()) == 0
        server.stateward(
            "user",
            "create",
            "bob",
            "--password",
            "pw-test",
            "--project",
            "admin",
            "--role",
            "member",
        )
        member = server.client(server.token("bob", "pw-test"))
        assert member.get("/v1/journal/status").status_code == 403
        assert member.post("/v1/journal/full-sync").status_code == 403
    finally:
        server.stop()


def _failed_rows(server: LiveServer) -> list[dict[str, Any]]:
    out = server.stateward("journal", "list", "--state", "failed", "-f", "json").stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_a_row_the_controller_keeps_refusing_fails_and_is_retried_after_the_fix(
    tmp_path: Path,
) -> None:
    shim = start_shim(tmp_path)
    server = start_server(tmp_path, env=shim.journal_env(**FAST))
    try:
        client = server.client(server.token())
        net = client.post(f"{NET}/networks", json={"network": {"name": "n"}}).json()["network"]
        wait_for(lambda: net["id"] in _ids(shim, "networks"))
        shim.faults(errors=[{"id": net["id"], "status": 500}])
        client.put(f"{NET}/networks/{net['id']}", json={"network": {"name": "v1"}})
        failed = wait_for(lambda: _failed_rows(server))
        assert len(failed) == 1
        row = failed[0]
        api_rows = client.get("/v1/journal/rows", params={"state": "failed"}).json()["rows"]
        assert [r["seqnum"] for r in api_rows] == [row["seqnum"]]
        assert client.get("/v1/journal/rows", params={"state": "bogus"}).status_code == 400
        assert (row["object_uuid"], row["operation"], row["retry_count"]) == (
            net["id"],
            "update",
            5,
        )
        attempts = [e for e in _oplog(shim) if e["id"] == net["id"]]
        assert len(attempts) == 1  # the refused PUTs never reached the store; only the create
        # A later change of the same object waits behind the failed row.
        client.put(f"{NET}/networks/{net['id']}", json={"network": {"name": "v2"}})
        time.sleep(1.5)
        assert [n["name"] for n in shim.state()["networks"] if n["id"] == net["id"]] == ["n"]
        assert _status(client)["rows"]["pending"] == 1
        shown = json.loads(
            server.stateward("journal", "show", str(row["seqnum"]), "-f", "json").stdout
        )
        assert shown["state"] == "failed" and shown["data"]["name"] == "v1"
        # Retrying before the fix fails again; after it, the row and the one behind it go.
        shim.admin("DELETE", "/shim/faults")
        retried = server.stateward("journal", "retry", str(row["seqnum"]), "-f", "json")
        assert json.loads(retried.stdout)["state"] == "pending"
        wait_for(lambda: _names(shim) == ["v2"])
        assert _failed_rows(server) == []
        again = server.stateward("journal", "retry", str(row["seqnum"]), check=False)
        assert again.returncode == 1 and "not failed" in again.stderr
    finally:
        server.stop()
        shim.stop()


def test_maintenance_recovers_a_failed_row_by_asking_the_controller(tmp_path: Path) -> None:
    shim = start_shim(tmp_path)
    env = shim.journal_env(**FAST, STATEWARD_JOURNAL__MAINTENANCE_INTERVAL="1")
    server = start_server(tmp_path, env=env)
    try:
        client = server.client(server.token())
        net = client.post(f"{NET}/networks", json={"network": {"name": "n"}}).json()["network"]
        wait_for(lambda: net["id"] in _ids(shim, "networks"))
        # Only the PUT is refused: the controller still answers GET, so recovery can ask it.
        shim.faults(errors=[{"id": net["id"], "status": 500, "methods": ["PUT"]}])
        client.put(f"{NET}/networks/{net['id']}", json={"network": {"name": "v1"}})
        wait_for(lambda: _failed_rows(server))
        shim.admin("DELETE", "/shim/faults")
        wait_for(lambda: _names(shim) == ["v1"], timeout=15)
        assert _failed_rows(server) == []
    finally:
        server.stop()
        shim.stop()


def test_full_sync_heals_random_breakage_on_the_controller(tmp_path: Path) -> None:
    shim = start_shim(tmp_path)
    server = start_server(tmp_path, env=shim.journal_env(**FAST))
    try:
        client = server.client(server.token())
        for i in range(4):
            net = client.post(f"{NET}/networks", json={"network": {"name": f"n{i}"}}).json()
            net_id = net["network"]["id"]
            client.post(
                f"{NET}/subnets",
                json={"subnet": {"network_id": net_id, "cidr": f"10.{i}.0.0/24"}},
            )
            for _ in range(3):
                client.post(f"{NET}/ports", json={"port": {"network_id": net_id}})
        wait_for(lambda: _synced(client) and len(shim.state()["ports"]) == 12)
        before = {k: sorted(v, key=lambda x: x["id"]) for k, v in shim.state().items()}
        broken = shim.admin(
            "POST", "/shim/break", {"random": {"delete": 4, "alter": 4, "extra": 2}, "seed": 7}
        )
        assert len(broken["deleted"]) == 4 and len(broken["altered"]) == 4
        history_len = len(_status(client)["full_sync"]["history"])
        server.stateward("journal", "full-sync")
        wait_for(
            lambda: (
                _status(client)["full_sync"]["state"] == "NORMAL"
                and len(_status(client)["full_sync"]["history"]) > history_len + 1
            )
        )
        wait_for(lambda: _synced(client))
        after = {k: sorted(v, key=lambda x: x["id"]) for k, v in shim.state().items()}
        ids = {k: [x["id"] for x in v] for k, v in after.items()}
        assert ids == {k: [x["id"] for x in v] for k, v in before.items()}
        assert compare(_store_state(client), _shim_state(shim)) == {
            "missing": [],
            "extra": [],
            "different": [],
        }
        assert not any(x["name"].startswith("corrupted") for v in after.values() for x in v)
        states = [h["state"] for h in _status(client)["full_sync"]["history"][history_len:]]
        assert states == ["CHECKING", "OUTOFSYNC", "SYNCING", "NORMAL"]
        summary = _status(client)["full_sync"]["last"]
        assert summary == {"create": 4, "update": 4, "delete": 2, "recreate": 0}
    finally:
        server.stop()
        shim.stop()


def test_a_controller_outage_disconnects_and_converges_without_counting_retries(
    tmp_path: Path,
) -> None:
    shim = start_shim(tmp_path, persist=True)
    server = start_server(tmp_path, env=shim.journal_env(**FAST))
    try:
        client = server.client(server.token())
        net = client.post(f"{NET}/networks", json={"network": {"name": "n"}}).json()["network"]
        client.post(
            f"{NET}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.9.0.0/16"}}
        )
        wait_for(lambda: _synced(client) and _ids(shim, "networks"))
        shim.stop()
        deadline = time.monotonic() + 30
        made = 0
        seen_disconnected = False
        while time.monotonic() < deadline:  # API load during the 30 s outage
            port = client.post(f"{NET}/ports", json={"port": {"network_id": net["id"]}})
            assert port.status_code == 201
            client.put(f"{NET}/ports/{port.json()['port']['id']}", json={"port": {"name": "x"}})
            made += 1
            status = _status(client)
            seen_disconnected |= status["connection"]["state"] == "DISCONNECTED"
            time.sleep(0.2)
        assert seen_disconnected
        assert _status(client)["rows"]["pending"] >= made
        shim = restart_shim(tmp_path, shim)
        wait_for(lambda: _status(client)["connection"]["state"] == "NORMAL", timeout=10)
        wait_for(lambda: _synced(client) and len(shim.state()["ports"]) == made, timeout=60)
        rows = json.loads(
            server.stateward("journal", "list", "--limit", "1000", "-f", "json").stdout
        )
        assert {r["state"] for r in rows} == {"completed"}
        assert {r["retry_count"] for r in rows} == {0}
        transitions = [(t["from"], t["to"]) for t in _status(client)["connection"]["transitions"]]
        assert ("NORMAL", "DISCONNECTED") in transitions
        assert transitions[-1] == ("DISCONNECTED", "NORMAL")
        reasons = [h["reason"] for h in _status(client)["full_sync"]["history"]]
        assert "controller back after an outage" in reasons
        assert order_violations(shim.oplog()) == []
        metrics = client.get("/metrics").text
        assert 'stateward_journal_connection_state{state="NORMAL"} 1.0' in metrics
    finally:
        server.stop()
        shim.stop()


def test_refused_credentials_put_the_monitor_in_error_without_spending_retries(
    tmp_path: Path,
) -> None:
    shim = start_shim(tmp_path)
    env = shim.journal_env(**FAST, STATEWARD_JOURNAL__PASSWORD="not-the-password")
    server = start_server(tmp_path, env=env)
    try:
        client = server.client(server.token())
        net = client.post(f"{NET}/networks", json={"network": {"name": "n"}}).json()["network"]
        wait_for(lambda: _status(client)["connection"]["state"] == "ERROR")
        time.sleep(2)  # several probes and sync passes later ...
        rows = json.loads(server.stateward("journal", "list", "-f", "json").stdout)
        assert [(r["state"], r["retry_count"]) for r in rows] == [("pending", 0)]
        status = json.loads(server.stateward("journal", "status", "-f", "json").stdout)
        assert [m["state"] for m in status["monitors"]] == ["ERROR"]
        # The operator fixes the controller's side: the same port, the expected password.
        shim.stop()
        shim = start_shim(tmp_path, port=shim.port, name="shim2", password="not-the-password")
        wait_for(lambda: _status(client)["connection"]["state"] == "NORMAL", timeout=15)
        wait_for(lambda: _ids(shim, "networks") == {net["id"]})
        table = server.stateward("journal", "status", "-c", "connections", "-f", "value")
        assert table.stdout.strip().endswith("=NORMAL")
    finally:
        server.stop()
        shim.stop()


def test_full_sync_runs_on_schedule(tmp_path: Path) -> None:
    shim = start_shim(tmp_path)
    server = start_server(
        tmp_path, env=shim.journal_env(**FAST, STATEWARD_JOURNAL__FULL_SYNC_INTERVAL="1")
    )
    try:
        client = server.client(server.token())
        wait_for(
            lambda: (
                [h["reason"] for h in _status(client)["full_sync"]["history"]].count("scheduled")
                >= 2
            ),
            timeout=15,
        )
        # Something lost on the controller between two scheduled runs comes back by itself.
        net = client.post(f"{NET}/networks", json={"network": {"name": "n"}}).json()["network"]
        wait_for(lambda: _ids(shim, "networks") == {net["id"]})
        shim.admin("POST", "/shim/break", {"delete": [net["id"]]})
        wait_for(lambda: _ids(shim, "networks") == {net["id"]}, timeout=15)
    finally:
        server.stop()
        shim.stop()


async def _stored_rows(server: LiveServer) -> list[tuple[str, int]]:
    store = Store(server_db_url(server))
    try:
        rows = await JournalService(store, JournalConfig(), "test").rows(limit=100)
        return [(r.view()["state"], r.view()["retry_count"]) for r in rows]
    finally:
        await store.close()


def test_a_stopping_server_hands_back_the_rows_it_was_sending(tmp_path: Path) -> None:
    shim = start_shim(tmp_path)
    server = start_server(tmp_path, env=shim.journal_env(**FAST))
    try:
        client = server.client(server.token())
        wait_for(lambda: _status(client)["full_sync"]["state"] == "NORMAL")
        shim.faults(latency_ms=5000)  # longer than the 2 s the server waits at shutdown
        for i in range(3):
            client.post(f"{NET}/networks", json={"network": {"name": f"n{i}"}})
        wait_for(lambda: _status(client)["rows"]["processing"] == 3)
        server.stop()
        # The server is gone: what it left is read from its store.
        assert asyncio.run(_stored_rows(server)) == [("pending", 0)] * 3
    finally:
        server.stop()
        shim.stop()


def test_a_controller_that_comes_back_empty_is_refilled(tmp_path: Path) -> None:
    """Cold start without persistence, quicker than any probe could notice: the canary
    network full sync planted is gone, so a full sync puts everything back."""
    shim = start_shim(tmp_path)
    server = start_server(tmp_path, env=shim.journal_env(**FAST))
    try:
        client = server.client(server.token())
        net = client.post(f"{NET}/networks", json={"network": {"name": "n"}}).json()["network"]
        client.post(
            f"{NET}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.5.0.0/24"}}
        )
        port = client.post(f"{NET}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
        wait_for(lambda: _synced(client) and _ids(shim, "ports") == {port["id"]})
        wait_for(lambda: CANARY_NETWORK_ID in {n["id"] for n in shim.state()["networks"]})
        shim.admin("POST", "/shim/reset")  # everything gone at once, no outage seen
        wait_for(lambda: _ids(shim, "ports") == {port["id"]}, timeout=15)
        assert _ids(shim, "networks") == {net["id"]} and len(_ids(shim, "subnets")) == 1
        reasons = [h["reason"] for h in _status(client)["full_sync"]["history"]]
        assert "controller cold start (canary missing)" in reasons
        assert _status(client)["full_sync"]["last"] == {
            "create": 3,
            "update": 0,
            "delete": 0,
            "recreate": 0,
        }
    finally:
        server.stop()
        shim.stop()


def test_a_load_balancer_with_no_live_controller_counts_as_an_outage(tmp_path: Path) -> None:
    shim = start_shim(tmp_path)
    server = start_server(tmp_path, env=shim.journal_env(**FAST))
    try:
        client = server.client(server.token())
        wait_for(lambda: _status(client)["full_sync"]["state"] == "NORMAL")
        shim.faults(down=True)  # every northbound call answers 503
        net = client.post(f"{NET}/networks", json={"network": {"name": "n"}}).json()["network"]
        wait_for(lambda: _status(client)["connection"]["state"] == "DISCONNECTED")
        time.sleep(2)
        rows = json.loads(server.stateward("journal", "list", "-f", "json").stdout)
        assert [(r["state"], r["retry_count"]) for r in rows] == [("pending", 0)]
        shim.faults(down=False)
        wait_for(lambda: _ids(shim, "networks") == {net["id"]}, timeout=15)
        assert _status(client)["connection"]["state"] == "NORMAL"
    finally:
        server.stop()
        shim.stop()
