"""The stateward admin commands: config, identity administration, output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.server import OpenStackCLI, running_server


def stateward(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stateward", *args],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def test_config_show_masks_secrets_and_rejects_bad_keys(
    tmp_path: Path, python_env: dict[str, str]
) -> None:
    env = {
        **python_env,
        "STATEWARD_IDENTITY__ADMIN_PASSWORD": "hunter2",
        "STATEWARD_DATABASE__URL": "postgresql://sw:secret@db/sw",
    }
    shown = json.loads(stateward(env, "config", "show", "-f", "json").stdout)
    assert shown["identity"]["admin_password"] == "**********"
    assert shown["database"]["url"] == "postgresql://sw:****@db/sw"
    toml = stateward(env, "config", "show").stdout
    assert "[liveness]" in toml and "hunter2" not in toml

    bad = stateward(
        {**python_env, "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "10"}, "config", "show", check=False
    )
    assert bad.returncode == 2
    assert "chassis_down_time" in bad.stderr and "twice report_interval" in bad.stderr


def test_identity_commands_give_a_member_access_through_the_openstack_cli(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        server.stateward("project", "create", "tenant-a")
        created = json.loads(
            server.stateward(
                "user",
                "create",
                "alice",
                "--password",
                "pw-alice",
                "--project",
                "tenant-a",
                "--role",
                "member",
                "-f",
                "json",
            ).stdout
        )
        assert created["name"] == "alice"
        users = yaml.safe_load(server.stateward("user", "list", "-f", "yaml").stdout)
        assert {"admin", "alice"} <= {u["name"] for u in users}
        assert "alice" in server.stateward("user", "list", "-f", "value", "-c", "name").stdout
        assignments = json.loads(
            server.stateward("role", "list", "--assignments", "-f", "json").stdout
        )
        assert {"user": "alice", "project": "tenant-a", "role": "member"} in assignments

        alice = OpenStackCLI(
            server, tmp_path, username="alice", password="pw-alice", project="tenant-a"
        )
        assert (
            alice.json("network", "create", "mine")["project_id"] == created["default_project_id"]
        )
        admin = OpenStackCLI(server, tmp_path)
        assert admin.json("network", "list") != []
        assert alice.json("network", "list")[0]["Name"] == "mine"

        duplicate = server.stateward(
            "user", "create", "alice", "--password", "pw-other", check=False
        )
        assert duplicate.returncode == 1
        assert "already exists" in duplicate.stderr

        cred = json.loads(
            server.stateward(
                "app-cred",
                "create",
                "agents",
                "--user",
                "alice",
                "--project",
                "tenant-a",
                "-f",
                "json",
            ).stdout
        )
        assert cred["secret"] and cred["roles"] == ["member", "reader"]  # implied roles too
        listed = json.loads(
            server.stateward("app-cred", "list", "--user", "alice", "-f", "json").stdout
        )
        assert [c["name"] for c in listed] == ["agents"]
        assert "secret" not in listed[0]


def test_clouds_yaml_is_usable_by_the_openstack_cli(
    tmp_path: Path, python_env: dict[str, str]
) -> None:
    with running_server(tmp_path) as server:
        from tests.support.server import ADMIN_PASSWORD, VENV_BIN

        text = stateward(
            python_env, "clouds-yaml", "--url", server.url, "--password", ADMIN_PASSWORD
        ).stdout
        (tmp_path / "clouds.yaml").write_text(text)
        env = {k: v for k, v in python_env.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(tmp_path / "clouds.yaml")
        result = subprocess.run(
            [
                str(VENV_BIN / "openstack"),
                "--os-cloud",
                "stateward",
                "token",
                "issue",
                "-f",
                "json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["project_id"]


def test_admin_commands_need_only_the_api(tmp_path: Path, python_env: dict[str, str]) -> None:
    """An operator on another machine has no state directory and no database: the identity,
    chassis and journal commands work with just the server's URL and credentials."""
    from tests.support.server import ADMIN_PASSWORD

    with running_server(tmp_path) as server:
        env = {k: v for k, v in python_env.items() if not k.startswith(("STATEWARD_", "OS_"))}
        env.update(
            HOME=str(tmp_path / "elsewhere"),  # no state directory here
            STATEWARD_DATABASE__URL="postgresql://nobody@127.0.0.1:1/none",  # never used
            STATEWARD_URL=server.url,
            STATEWARD_USERNAME="admin",
            STATEWARD_PASSWORD=ADMIN_PASSWORD,
        )
        for args in (
            ["project", "create", "remote"],
            ["user", "list", "-f", "value", "-c", "name"],
            ["role", "list", "--assignments", "-f", "json"],
            ["chassis", "list", "-f", "json"],
            ["journal", "status", "-f", "json"],
            ["host", "list", "-f", "json"],
        ):
            result = stateward(env, *args, check=False)
            assert result.returncode == 0, f"{args}: {result.stderr}"
        assert not (tmp_path / "elsewhere").exists()
