"""The README, followed to the letter by a newcomer: a fresh clone in a temporary directory, its
Quickstart's commands run as written (install, serve, then the openstack CLI with the clouds.yaml
the first start wrote), with a home directory of its own and a free port.

It clones the repository: run it on committed work.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port, require
from tests.support.doc_blocks import blocks

EXPORT_LINE = re.compile(r"Use them with: (export OS_CLIENT_CONFIG_FILE=(\S+) OS_CLOUD=stateward)")


def newcomer_env(home: Path, port: int) -> dict[str, str]:
    """A login shell's environment: no virtualenv, no OpenStack or Stateward settings."""
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    env["PATH"] = ":".join(
        p for p in env.get("PATH", "/usr/bin:/bin").split(":") if ".venv" not in p
    )
    env["HOME"] = str(home)
    env["STATEWARD_SERVER__PORT"] = str(port)  # 9696 may be taken on a shared machine
    return env


@pytest.mark.cli
def test_the_readme_quickstart_works_as_written(tmp_path: Path) -> None:
    require(shutil.which("git") is not None, "git")
    readme = blocks(REPO / "README.md")
    [serve] = [b for b in readme if b.kind == "serve"]
    [quickstart] = [b for b in readme if b.kind == "run"]
    clone = tmp_path / "stateward"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = newcomer_env(home, port)
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        ["bash", "-c", serve.script],
        cwd=clone,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600  # a fresh venv and `pip install -e .`
        line = None
        while time.monotonic() < deadline and line is None:
            assert server.poll() is None, log.read_text()
            line = EXPORT_LINE.search(log.read_text())
            time.sleep(0.5)
        assert line is not None, log.read_text()
        clouds = Path(line.group(2))
        assert clouds == home / ".local/share/stateward/clouds.yaml"
        assert clouds.stat().st_mode & 0o777 == 0o600
        assert clouds.parent.stat().st_mode & 0o777 == 0o700
        assert not (clone / "clouds.yaml").exists()  # nothing written into the work tree
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200

        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", quickstart.script],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "alice" in result.stdout and "port1" in result.stdout

        # Ctrl-C stops it cleanly: no traceback.
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
        assert "Traceback" not in log.read_text()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
