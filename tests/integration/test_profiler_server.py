"""A live server stores posted checkpoints and exports them; the CLI draws them, online and
offline; two real processes stamp one trace into their logs and the profile is rebuilt."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stateward.cli.client import Credentials, ServerClient
from stateward.profiler.model import NAMES
from tests.support.server import ADMIN_PASSWORD, LiveServer, running_server

OFFSETS_MS = [0, 50, 58, 66, 70, 75, 80, 81, 83, 90, 92]


def _cli(
    server: LiveServer, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(server.env)
    env["STATEWARD_URL"] = server.url
    if token:
        env["STATEWARD_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "stateward", "profile", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _exercise(server: LiveServer, tmp_path: Path) -> None:
    token = server.token()
    t0 = time.time() - 1
    times = {name: t0 + ms / 1000 for name, ms in zip(NAMES, OFFSETS_MS, strict=True)}
    with server.client(token) as http:
        # The server side (T00..T08), then the consumer's T09/T10 (posted in reverse order).
        server_part = {n: times[n] for n in NAMES[:9]}
        answer = http.post("/v1/profiles/fault-1/checkpoints", json={"checkpoints": server_part})
        assert answer.status_code == 200, answer.text
        assert answer.json()["recorded"] == list(NAMES[:9])
        answer = http.post(
            "/v1/profiles/fault-1/checkpoints",
            json={"checkpoints": {"T10": times["T10"], "T09": times["T09"]}, "process": "vnfm"},
        )
        assert answer.json()["recorded"] == ["T09", "T10"]
        # Posting again keeps the first times.
        again = http.post(
            "/v1/profiles/fault-1/checkpoints", json={"checkpoints": {"T09": times["T09"] + 9}}
        )
        assert again.json()["recorded"] == [] and again.json()["kept"] == ["T09"]

        export = http.get("/v1/profiles/fault-1").json()["profile"]
        assert [export[n] for n in NAMES] == [float(ms) for ms in OFFSETS_MS]
        assert [c["name"] for c in export["checkpoints"]] == list(NAMES)
        assert [m["name"] for m in export["modules"]] == [
            "monitor",
            "inspector",
            "controller",
            "notifier",
            "evaluator",
            "consumer",
        ]
        assert export["by_cost"][0] == "monitor" and export["complete"] is True
        assert export["checkpoints"][9]["meta"]["process"] == "vnfm"

        listed = http.get("/v1/profiles").json()["profiles"]
        assert [p["id"] for p in listed] == ["fault-1"]
        assert listed[0]["total_ms"] == 92.0

        svg = http.get("/v1/profiles/fault-1/svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        ET.fromstring(svg.text)
        png = http.get("/v1/profiles/fault-1/png")
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")

        # Bad input is a precise 400 and writes nothing; unknown profile is a 404.
        bad = http.post("/v1/profiles/fault-2/checkpoints", json={"checkpoints": {"T11": t0}})
        assert bad.status_code == 400 and "checkpoints.T11" in bad.json()["error"]["message"]
        bad = http.post("/v1/profiles/fault-2/checkpoints", json={"checkpoints": {"T09": "x"}})
        assert bad.status_code == 400 and "checkpoints.T09" in bad.json()["error"]["message"]
        bad = http.post("/v1/profiles/fault-2/checkpoints", json={"checkpoint": {}})
        assert bad.status_code == 400
        assert http.get("/v1/profiles/fault-2").status_code == 404

    # Without a token: 401. A plain project member may not read or post profiles: 403.
    with server.client() as anonymous:
        assert anonymous.get("/v1/profiles").status_code == 401
    server.stateward("project", "create", "p2")
    server.stateward("user", "create", "bob", "--password", "pw-test", "--project", "p2")
    bob = server.token("bob", "pw-test", "p2")
    with server.client(bob) as http:
        assert http.get("/v1/profiles/fault-1").status_code == 403
        denied = http.post("/v1/profiles/fault-1/checkpoints", json={"checkpoints": {"T09": t0}})
        assert denied.status_code == 403

    # A consumer's service account (application credential with the service role) may post.
    server.stateward("project", "create", "services")
    server.stateward(
        "user",
        "create",
        "vnfm",
        "--password",
        "pw-test",
        "--project",
        "services",
        "--role",
        "service",
    )
    cred = json.loads(
        server.stateward(
            "app-cred",
            "create",
            "vnfm-profiler",
            "--user",
            "vnfm",
            "--project",
            "services",
            "--role",
            "service",
            "-f",
            "json",
        ).stdout
    )
    service = ServerClient(
        server.url, Credentials(app_cred_id=cred["id"], app_cred_secret=cred["secret"])
    )
    with service:
        answer = service.post_json(
            "/v1/profiles/fault-3/checkpoints", {"checkpoints": {"T09": t0, "T10": t0 + 0.001}}
        )
    assert answer["recorded"] == ["T09", "T10"] and answer["profile"]["M05"] is None

    # The CLI draws the stored profile (token auth) and exports it (password auth).
    shown = _cli(server, "show", "fault-1", "--svg", str(tmp_path / "fault.svg"), token=token)
    assert shown.returncode == 0, shown.stderr
    assert "Profile fault-1: total 92.0ms (complete)" in shown.stdout
    assert "| monitor    | T00->T01 | 50.0ms" in shown.stdout
    ET.parse(tmp_path / "fault.svg")
    exported = _cli(
        server,
        "show",
        "fault-1",
        "-f",
        "json",
        "--username",
        "admin",
        "--password",
        ADMIN_PASSWORD,
        "--project",
        "admin",
    )
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["T05"] == 75.0
    listed = _cli(server, "list", "-f", "json", token=token)
    assert [p["id"] for p in json.loads(listed.stdout)] == ["fault-3", "fault-1"]
    missing = _cli(server, "show", "nope", token=token)
    assert missing.returncode == 1 and "Profile nope could not be found" in missing.stderr


def test_server_stores_and_exports_posted_checkpoints(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        _exercise(server, tmp_path)


@pytest.mark.postgres
def test_server_stores_and_exports_posted_checkpoints_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    with running_server(tmp_path, db=pg_url) as server:
        _exercise(server, tmp_path)


STAMPER = textwrap.dedent(
    """
    import sys, time
    from stateward.observability import configure_logging
    from stateward.profiler.stamp import set_process_name, stamp
    from stateward.domain.events import TraceContext
    from pathlib import Path

    log, name, trace_id, *names = sys.argv[1:]
    configure_logging("INFO", "json", Path(log))
    set_process_name(name)
    trace = TraceContext(trace_id)
    for checkpoint in names:
        stamp(trace, checkpoint, role=name)
        time.sleep(0.002)
    """
)


def test_two_processes_stamp_one_trace_and_the_cli_rebuilds_it(
    tmp_path: Path, python_env: dict[str, str]
) -> None:
    script = tmp_path / "stamper.py"
    script.write_text(STAMPER)
    server_log, consumer_log = tmp_path / "server.log", tmp_path / "consumer.log"
    run = [sys.executable, str(script)]
    subprocess.run(
        [*run, str(server_log), "server@h1", "trace-xyz", *NAMES[:9]],
        env=python_env,
        check=True,
        timeout=60,
    )
    subprocess.run(
        [*run, str(consumer_log), "consumer@h2", "trace-xyz", "T09", "T10"],
        env=python_env,
        check=True,
        timeout=60,
    )

    def profile(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stateward", "profile", *args],
            env=python_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    imported = profile("import-log", str(server_log), str(consumer_log), "-f", "json")
    assert imported.returncode == 0, imported.stderr
    [export] = json.loads(imported.stdout)
    assert export["trace_id"] == "trace-xyz" and export["complete"] is True
    offsets = [export[n] for n in NAMES]
    assert offsets == sorted(offsets) and offsets[0] == 0.0
    assert export["checkpoints"][10]["meta"] == {"role": "consumer@h2", "process": "consumer@h2"}
    assert "1 profile(s), 11 checkpoint(s) from 2 file(s)" in imported.stderr

    shown = profile(
        "show",
        "trace-x",
        "--log",
        str(server_log),
        "--log",
        str(consumer_log),
        "--svg",
        str(tmp_path / "t.svg"),
        "--png",
        str(tmp_path / "t.png"),
    )
    assert shown.returncode == 0, shown.stderr
    assert "Profile trace-xyz:" in shown.stdout and "10-handled alarm" in shown.stdout
    assert "components by time cost" in shown.stdout
    ET.parse(tmp_path / "t.svg")
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    listed = profile("list", "--log", str(server_log), "-f", "value", "-c", "id")
    assert listed.stdout.split() == ["trace-xyz"]
    table = profile("list", "--log", str(server_log), "--log", str(consumer_log))
    assert "trace-xyz" in table.stdout and "11/11" in table.stdout


def test_import_log_stores_into_a_server(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "event": "profile.checkpoint",
                "trace_id": "from-logs",
                "checkpoint": n,
                "t": 1_795_306_991.0 + ms / 1000,
                "process_name": "inspector@h1",
            }
        )
        for n, ms in zip(NAMES, OFFSETS_MS, strict=True)
    ]
    log = tmp_path / "inspector.log"
    log.write_text("\n".join(lines))
    with running_server(tmp_path) as server:
        token = server.token()
        stored = _cli(server, "import-log", str(log), "--store", "-f", "value", token=token)
        assert stored.returncode == 0, stored.stderr
        assert "stored from-logs: 11 new checkpoint(s)" in stored.stderr
        again = _cli(server, "import-log", str(log), "--store", "-f", "value", token=token)
        assert "stored from-logs: 0 new checkpoint(s)" in again.stderr
        with server.client(token) as http:
            export = http.get("/v1/profiles/from-logs").json()["profile"]
        assert [export[n] for n in NAMES] == [float(ms) for ms in OFFSETS_MS]

        # The same server through a clouds.yaml entry (password auth, as the openstack CLI).
        clouds = server.stateward(
            "clouds-yaml", "--url", server.url, "--password", ADMIN_PASSWORD
        ).stdout
        (tmp_path / "clouds.yaml").write_text(clouds)
        env = {k: v for k, v in server.env.items() if not k.startswith("STATEWARD_URL")}
        env["OS_CLIENT_CONFIG_FILE"] = str(tmp_path / "clouds.yaml")
        listed = subprocess.run(
            [
                sys.executable,
                "-m",
                "stateward",
                "profile",
                "list",
                "--os-cloud",
                "stateward",
                "-f",
                "value",
                "-c",
                "id",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == ["from-logs"]
