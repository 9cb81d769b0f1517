"""Neutron HA: three servers on one PostgreSQL sync one controller; one dies mid-load."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import ADMIN_PASSWORD, start_server
from tests.support.shim import start_shim, wait_for


def test_three_servers_one_killed_mid_load_lose_nothing_and_keep_order(
    tmp_path: Path, pg_url: str, python_env: dict[str, str]
) -> None:
    shim = start_shim(tmp_path, latency_ms=2)
    env = shim.journal_env(
        STATEWARD_JOURNAL__MAINTENANCE_TICK="0.2",
        STATEWARD_JOURNAL__PROCESSING_TIMEOUT="3",
        STATEWARD_JOURNAL__SYNC_TIMEOUT="1",
        STATEWARD_JOURNAL__PROBE_INTERVAL="1",
        STATEWARD_LEASE__TTL="2",
        STATEWARD_LEASE__RENEW_INTERVAL="0.5",
    )
    servers = [start_server(tmp_path, db=pg_url, env=env, name=f"s{i}") for i in (1, 2, 3)]
    report_file = tmp_path / "report.json"
    try:
        emulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stateward",
                "emulate",
                *[arg for s in servers for arg in ("--server", s.url)],
                "--shim",
                shim.url,
                "--password",
                ADMIN_PASSWORD,
                "--networks",
                "24",
                "--ports",
                "5",
                "--updates",
                "2",
                "--concurrency",
                "12",
                "--converge-timeout",
                "90",
                "--report",
                str(report_file),
                "--no-progress",
            ],
            env=python_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        # SIGKILL the maintenance leader once the controller has taken a good part of the load.
        tokens = [s.token() for s in servers]
        wait_for(lambda: len(shim.oplog()) > 120, timeout=60, interval=0.05)
        leader = next(
            s
            for s, t in zip(servers, tokens, strict=True)
            if httpx.get(
                f"{s.url}/v1/journal/status", headers={"X-Auth-Token": t}, timeout=10
            ).json()["journal"]["maintenance_leader"]
        )
        # Slow the controller for a moment so the leader surely dies with rows in flight.
        shim.faults(latency_ms=1000)
        time.sleep(0.5)
        leader.stop(signal.SIGKILL)
        shim.faults(latency_ms=2)
        survivors = [s for s in servers if s is not leader]
        output, _ = emulator.communicate(timeout=240)
        report = json.loads(report_file.read_text())
        assert emulator.returncode == 0, output.decode()[-3000:]
        assert report["converged"] is True
        assert report["counts"] == {"missing": 0, "extra": 0, "different": 0}
        assert report["order_violation_count"] == 0
        assert leader.url in report["dead_servers"]
        assert report["journal_rows"]["failed"] == 0
        assert report["store"]["port"] > 0 and report["controller_ops"] > 120
        # Every server synced rows to the controller (several processes claimed rows).
        clients = {e["client"] for e in shim.oplog() if e["status"] < 300}
        assert len(clients) == 3, clients
        status = httpx.get(
            f"{survivors[0].url}/v1/journal/status",
            headers={"X-Auth-Token": survivors[0].token()},
            timeout=10,
        ).json()["journal"]
        assert len(status["monitors"]) == 3
        # The lease moved to a survivor, which reset the rows the dead server was sending.
        records = [r for s in survivors for r in s.log_records()]
        assert any("lease journal-maintenance acquired" in r.get("event", "") for r in records)
        assert any("stuck journal rows" in r.get("event", "") for r in records)
    finally:
        for server in servers:
            server.stop()
        shim.stop()
