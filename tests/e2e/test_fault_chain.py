"""The whole fault chain on real processes: ``stateward serve`` (embedded default), two
``stateward agent`` chassis, and a ``stateward consumer`` receiving the alarms' webhooks.

A chassis agent is killed: liveness declares the chassis down, the inspector forces the host down
and sets its servers to error, the notifications reach the alarm evaluator, one alarm per server
fires and the consumer gets its webhook and posts T09/T10 back. A monitor's raw failure for
another host takes the same path. Every checkpoint T00..T10 is present and in order in the stored
profile, and the same profile is rebuilt from the processes' logs alone.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stateward.bench.cluster import ADMIN_PASSWORD, Cluster, free_port, spawn
from stateward.bench.fault import FAST_LIVENESS, Driver
from stateward.profiler.model import NAMES, Profile


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


async def _wait(check: Any, timeout: float, what: str) -> Any:
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _import_logs(logs: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``stateward profile import-log LOG... -f json``: no server involved."""
    command = [sys.executable, "-m", "stateward", "profile", "import-log", *map(str, logs)]
    return subprocess.run(
        [*command, "-f", "json"], env=env, capture_output=True, text=True, timeout=60
    )


def _assert_complete_and_ordered(profile: Profile) -> None:
    assert profile.present == list(NAMES), profile.missing
    times = [profile.checkpoints[n] for n in NAMES]
    offsets = "; ".join(f"{n} {t - times[0]:.6f}" for n, t in zip(NAMES, times, strict=True))
    assert times == sorted(times), offsets
    assert profile.problems() == []


async def test_agent_killed_and_monitor_failure_reach_the_consumer_with_full_profiles(
    tmp_path: Path,
) -> None:
    vms = {"victim": 6, "survivor": 3, "pinged": 4}
    cluster = Cluster("embedded", 1, env=dict(FAST_LIVENESS), workdir=tmp_path)
    async with cluster:
        port = free_port()
        consumer_out = tmp_path / "consumer.out"
        consumer_log = tmp_path / "consumer.log"
        env = dict(cluster.base_env, STATEWARD_STATE_DIR=str(tmp_path / "consumer-state"))
        consumer = spawn(
            [
                sys.executable,
                "-m",
                "stateward",
                "consumer",
                "--port",
                str(port),
                "--name",
                "vnfm@e2e",
                "--log-file",
                str(consumer_log),
                "--server",
                cluster.url,
                "--username",
                "admin",
                "--password",
                ADMIN_PASSWORD,
            ],
            env,
            consumer_out,
        )
        agents = [
            cluster.start_agent("victim", "198.18.0.1"),
            cluster.start_agent("survivor", "198.18.0.2"),
            # its agent keeps reporting: the monitor sees a fault liveness cannot (a dead
            # data plane), and reports it first
            cluster.start_agent("pinged", "198.18.0.3"),
        ]
        driver = Driver(cluster, f"http://127.0.0.1:{port}/alarm")
        try:
            await _wait(lambda: any("listening" in r for r in _lines(consumer_out)), 30, "consumer")
            for name in ("victim", "survivor", "pinged"):
                await driver.wait_chassis(name)
            servers = {name: await driver.populate(name, n) for name, n in vms.items()}

            # 1. a chassis agent dies
            agents[0].stop(signal.SIGKILL)
            killed_at = time.time()

            def victim_alarms() -> list[dict[str, Any]]:
                got = [
                    r for r in _lines(consumer_out) if r.get("alarm_name", "").startswith("victim-")
                ]
                return got if len(got) >= vms["victim"] else []

            got = await _wait(victim_alarms, 30, "the victim's alarms")
            # one alarm per server of the dead host, and nothing for the live one
            assert sorted(r["instance_id"] for r in got) == sorted(servers["victim"])
            assert len({r["alarm_id"] for r in got}) == vms["victim"]
            assert all(r["current"] == "alarm" for r in got)
            traces = {r["trace_id"] for r in got}
            assert len(traces) == 1 and None not in traces
            trace_id = traces.pop()
            profile = await driver.profile(trace_id, timeout=10)
            _assert_complete_and_ordered(profile)
            # T00 is the liveness deadline: after the kill's last heartbeat + chassis_down_time
            last_seen = profile.checkpoint_meta["T00"]["last_seen"]
            assert last_seen is not None
            assert profile.checkpoints["T00"] <= profile.checkpoints["T01"] < killed_at + 5

            # 2. a monitor reports a host down (a Doctor raw failure)
            detected = await driver.raw_failure(["pinged"])

            def pinged_alarms() -> list[dict[str, Any]]:
                got = [
                    r for r in _lines(consumer_out) if r.get("alarm_name", "").startswith("pinged-")
                ]
                return got if len(got) >= vms["pinged"] else []

            got2 = await _wait(pinged_alarms, 30, "the pinged host's alarms")
            assert sorted(r["instance_id"] for r in got2) == sorted(servers["pinged"])
            trace2 = got2[0]["trace_id"]
            profile2 = await driver.profile(trace2, timeout=10)
            _assert_complete_and_ordered(profile2)
            assert abs(profile2.checkpoints["T00"] - detected) < 0.002  # the monitor's time

            # the survivor's servers never alarmed
            assert not [
                r for r in _lines(consumer_out) if r.get("alarm_name", "").startswith("survivor-")
            ]
        finally:
            await driver.close()
            for agent in agents:
                agent.stop()
            if consumer.poll() is None:
                consumer.send_signal(signal.SIGTERM)
                consumer.wait(timeout=15)

        # 3. the profiler on its own: the same profiles from the processes' logs, no server
        result = _import_logs([cluster.servers[0].log, consumer_log], env)
        assert result.returncode == 0, result.stderr
        exported = json.loads(result.stdout)
        rebuilt = {p["trace_id"]: Profile.from_export(p) for p in exported}
        for trace, stored in ((trace_id, profile), (trace2, profile2)):
            assert trace in rebuilt
            _assert_complete_and_ordered(rebuilt[trace])
            assert rebuilt[trace].checkpoints == pytest.approx(stored.checkpoints, abs=1e-6)
