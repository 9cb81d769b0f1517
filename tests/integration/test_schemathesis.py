"""Property-based fuzzing of the running server's OpenAPI with schemathesis: no input may
cause a 5xx (positive and negative generation, every operation, authenticated)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.server import VENV_BIN, running_server


def test_no_input_causes_a_server_error(tmp_path: Path) -> None:
    with running_server(tmp_path) as live:
        token = live.token()
        result = subprocess.run(
            [
                str(VENV_BIN / "schemathesis"),
                "run",
                f"{live.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "30",
                "--header",
                f"X-Auth-Token: {token}",
                "--workers",
                "1",
                "--no-color",
                "--seed",
                "20261122",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "passed" in output.lower() or "✅" in output
        log = live.log.read_text()
        assert '"status": 500' not in log
