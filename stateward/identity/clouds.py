"""clouds.yaml entries for Stateward: the admin's, written at the first start, and any other
an operator asks ``stateward clouds-yaml`` for."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CLOUD = "stateward"


def cloud_entry(
    url: str,
    *,
    username: str = "admin",
    project: str = "admin",
    password: str | None = None,
    region: str = "RegionOne",
) -> dict[str, Any]:
    """One cloud: password authentication against Stateward's own identity endpoint."""
    auth: dict[str, Any] = {
        "auth_url": url.rstrip("/") + "/identity",
        "username": username,
        "project_name": project,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    if password:
        auth["password"] = password
    return {
        "auth_type": "password",
        "auth": auth,
        "region_name": region,
        "identity_api_version": 3,
        "interface": "public",
    }


def render(clouds: dict[str, dict[str, Any]]) -> str:
    return yaml.safe_dump({"clouds": clouds}, sort_keys=False)


def write_admin_clouds_yaml(state_dir: Path, url: str, password: str, region: str) -> Path:
    """``<state_dir>/clouds.yaml`` with the ``stateward`` cloud, readable by its owner only
    (the directory 0700, the file 0600, created so from the start: no window of exposure)."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    path = state_dir / "clouds.yaml"
    text = render({CLOUD: cloud_entry(url, password=password, region=region)})
    tmp = path.with_name(".clouds.yaml.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def usage_line(path: Path) -> str:
    return f"export OS_CLIENT_CONFIG_FILE={path} OS_CLOUD={CLOUD}"
