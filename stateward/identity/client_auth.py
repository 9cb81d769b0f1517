"""What every Stateward client (the agent, the CLI) sends to log in, and where it finds a cloud.

One place for Keystone v3's authentication request and for openstacksdk's clouds.yaml search
order, so the agent and the CLI cannot drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def domain_ref(value: str) -> dict[str, str]:
    """A domain given by name as Keystone wants it (``Default`` is the ``default`` id)."""
    return {"id": "default"} if value.lower() == "default" else {"name": value}


def app_cred_request(cred_id: str | None, secret: str | None) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred_id, "secret": secret},
            }
        }
    }


def password_request(
    username: str | None,
    password: str | None,
    user_domain: dict[str, str],
    project: str | None = None,
    project_domain: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Password authentication, project-scoped when a project is given."""
    body: dict[str, Any] = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": username, "domain": dict(user_domain), "password": password}
                },
            }
        }
    }
    if project:
        body["auth"]["scope"] = {
            "project": {"name": project, "domain": dict(project_domain or {"id": "default"})}
        }
    return body


def clouds_yaml_paths() -> list[Path]:
    """openstacksdk's search order: OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack, /etc."""
    paths = (
        [Path(os.environ["OS_CLIENT_CONFIG_FILE"])]
        if os.environ.get("OS_CLIENT_CONFIG_FILE")
        else []
    )
    return [
        *paths,
        Path.cwd() / "clouds.yaml",
        Path.home() / ".config" / "openstack" / "clouds.yaml",
        Path("/etc/openstack/clouds.yaml"),
    ]


def find_cloud(name: str) -> dict[str, Any] | None:
    """The first clouds.yaml entry called ``name``, or None."""
    for path in clouds_yaml_paths():
        if path.is_file():
            clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
            if name in clouds:
                return dict(clouds[name])
    return None
