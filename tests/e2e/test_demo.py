"""``stateward demo`` on a fresh install: one command, exit code 0, the chain and its profile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def test_demo_runs_the_fault_chain_and_exits_0() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWARD_")}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "120"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stateward", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "killing the agent of compute-1" in out
    assert "the consumer has all 8 alarms of compute-1" in out
    assert "(complete)" in out  # the profile has every checkpoint T00..T10
    assert "components by time cost" in out
    assert elapsed < 90  # the issue asks < 30 s; generous here (shared CI machines)


def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground process group (the demo, its server, its agents):
    the demo stops everything it started, says so in one line, and prints no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWARD_")}
    env["PYTHONPATH"] = str(REPO)
    env["COLUMNS"] = "120"
    out = tmp_path / "demo.out"
    demo = subprocess.Popen(
        [sys.executable, "-m", "stateward", "demo"],
        env=env,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while b"Stateward demo" not in out.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3)  # the server and the agents are starting or up
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == 130
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    text = out.read_text()
    assert "interrupted: the demo's server, agents and consumer are stopped." in text
    assert "Traceback" not in text and "never retrieved" not in text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # nothing it started is left behind
        try:
            os.killpg(demo.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("a process of the demo outlived it")
