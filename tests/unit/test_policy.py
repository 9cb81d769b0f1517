"""Policy defaults and operator overrides (oslo.policy)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import stateward.api.networking.policies  # noqa: F401
from stateward.domain.errors import Forbidden
from stateward.domain.identity import AuthContext, effective_roles
from stateward.identity.policy import Policy


def ctx(project: str, *roles: str) -> AuthContext:
    now = datetime.now(UTC)
    return AuthContext(
        "u",
        "u",
        "default",
        project,
        project,
        "default",
        tuple(effective_roles(list(roles))),
        now,
        now,
    )


def test_roles_imply_lesser_roles() -> None:
    assert effective_roles(["admin"]) == ["admin", "member", "reader"]
    assert effective_roles(["member"]) == ["member", "reader"]
    assert effective_roles(["data_plane_integrator"]) == ["data_plane_integrator"]


def test_project_scoped_defaults() -> None:
    policy = Policy()
    assert policy.allowed("create_network", ctx("p1", "member"), {"project_id": "p1"})
    assert not policy.allowed("create_network", ctx("p1", "member"), {"project_id": "p2"})
    assert not policy.allowed("create_network", ctx("p1", "reader"), {"project_id": "p1"})
    assert policy.allowed("create_network", ctx("p1", "admin"), {"project_id": "p2"})
    assert policy.allowed(
        "update_port:data_plane_status", ctx("p9", "data_plane_integrator"), {"project_id": "p1"}
    )
    assert not policy.allowed(
        "update_port:data_plane_status", ctx("p1", "member"), {"project_id": "p1"}
    )
    with pytest.raises(Forbidden, match="create_network:shared"):
        policy.enforce("create_network:shared", ctx("p1", "member"), {"project_id": "p1"})


def test_policy_file_overrides_a_default(tmp_path: Path) -> None:
    override = tmp_path / "policy.yaml"
    override.write_text('"create_network": "role:reader"\n')
    policy = Policy(override)
    assert policy.allowed("create_network", ctx("p1", "reader"), {"project_id": "p1"})
    assert policy.allowed("delete_network", ctx("p1", "member"), {"project_id": "p1"})


def test_missing_policy_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Policy(tmp_path / "missing.yaml")
