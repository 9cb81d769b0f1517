"""The docs' commands are true: every shell block marked ``<!-- doc-test: run -->`` in docs/ runs
as written, with the real ``openstack`` and ``stateward`` commands, against a live server (the
admin's cloud, as its first start wrote it). A block's options prepare the cloud it describes:
``agents=a,b`` starts those chassis agents, ``down=b`` stops that one and waits until its chassis
is down."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.agents import (
    FAST_LIVENESS,
    AgentProcess,
    chassis_status,
    create_service_user,
    start_agent,
    wait_for,
)
from tests.support.doc_blocks import Block, blocks
from tests.support.server import VENV_BIN, LiveServer, running_server

DOCS = sorted(p for p in (REPO / "docs").rglob("*.md") if any(b.kind == "run" for b in blocks(p)))


def _prepare(server: LiveServer, tmp_path: Path, block: Block, agents: list[AgentProcess]) -> None:
    names = [n for n in block.options.get("agents", "").split(",") if n]
    if names:
        create_service_user(server)
        for i, name in enumerate(names):
            agents.append(start_agent(server, tmp_path, name, f"127.0.0.{10 + i}"))
        token = server.token()
        wait_for(
            lambda: all(
                chassis_status(server, token).get(n, {}).get("status") == "active" for n in names
            ),
            what=f"chassis {names} active",
        )
    down = [n for n in block.options.get("down", "").split(",") if n]
    token = server.token() if down else ""
    for name in down:
        next(a for a in agents if a.name == name).kill()
        wait_for(
            lambda n=name: chassis_status(server, token).get(n, {}).get("status") == "down",
            what=f"chassis {name} down",
        )


@pytest.mark.cli
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_the_marked_commands_run_as_written(tmp_path: Path, doc: Path) -> None:
    runnable = [b for b in blocks(doc) if b.kind == "run"]
    needs_agents = any("agents" in b.options for b in runnable)
    with running_server(tmp_path, env=FAST_LIVENESS if needs_agents else None) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "STATEWARD_"))}
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            OS_CLIENT_CONFIG_FILE=str(server.state_dir / "clouds.yaml"),
            OS_CLOUD="stateward",
            PYTHONPATH=str(REPO),
        )
        assert Path(env["OS_CLIENT_CONFIG_FILE"]).is_file()
        agents: list[AgentProcess] = []
        work = tmp_path / "work"
        work.mkdir()
        try:
            for block in runnable:
                _prepare(server, tmp_path, block, agents)
                result = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", block.script],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert result.returncode == 0, (
                    f"{doc.name}: block failed:\n{block.script}\n{result.stdout}\n{result.stderr}"
                )
        finally:
            for agent in agents:
                agent.stop()
