"""Policy: which role may do which API action, enforced by oslo.policy.

Defaults live in code beside each API area (``register``); an operator's ``policy.yaml`` can
override any rule. Targets carry the resource's ``project_id`` so that project-scoped rules
(``project_id:%(project_id)s``) keep one project out of another's resources.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from stateward.domain.errors import Forbidden
from stateward.domain.identity import AuthContext

log = logging.getLogger(__name__)

BASE_RULES = [
    oslo_policy.RuleDefault("admin", "role:admin", "Cloud administrator."),
    oslo_policy.RuleDefault("service", "role:service", "A service (agent, monitor, controller)."),
    oslo_policy.RuleDefault("admin_or_service", "rule:admin or rule:service"),
    oslo_policy.RuleDefault("owner", "project_id:%(project_id)s", "The target's own project."),
    oslo_policy.RuleDefault("project_member", "role:member and rule:owner"),
    oslo_policy.RuleDefault("project_reader", "role:reader and rule:owner"),
    oslo_policy.RuleDefault("admin_or_member", "rule:admin or rule:project_member"),
    oslo_policy.RuleDefault("admin_or_reader", "rule:admin or rule:project_reader"),
    oslo_policy.RuleDefault(
        "data_plane_integrator",
        "role:data_plane_integrator",
        "May set ports' data-plane status (Doctor).",
    ),
    oslo_policy.RuleDefault("any_authenticated", "@", "Any valid token."),
]

_registered: dict[str, oslo_policy.RuleDefault] = {r.name: r for r in BASE_RULES}


def register(rules: Iterable[oslo_policy.RuleDefault]) -> None:
    """Add an API area's default rules (called at import of that area)."""
    for rule in rules:
        _registered[rule.name] = rule


def rule(name: str, check: str, description: str = "") -> oslo_policy.RuleDefault:
    return oslo_policy.RuleDefault(name, check, description or name)


def registered_rules() -> list[oslo_policy.RuleDefault]:
    return list(_registered.values())


class Policy:
    def __init__(self, policy_file: Path | None = None) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="stateward", default_config_files=[], default_config_dirs=[])
        self._enforcer = oslo_policy.Enforcer(
            conf, policy_file=str(policy_file) if policy_file else "stateward-policy.yaml"
        )
        if policy_file is not None and not policy_file.is_file():
            raise FileNotFoundError(f"policy.file {policy_file} does not exist")
        self._known: set[str] = set()
        self._sync()

    def _sync(self) -> None:
        new = [r for name, r in _registered.items() if name not in self._known]
        if new:
            self._enforcer.register_defaults(new)
            self._known.update(r.name for r in new)

    def allowed(
        self, action: str, ctx: AuthContext, target: Mapping[str, Any] | None = None
    ) -> bool:
        self._sync()
        full_target = {"project_id": ctx.project_id}
        if target:
            full_target.update(target)
        return bool(
            self._enforcer.authorize(action, full_target, ctx.policy_creds(), do_raise=False)
        )

    def enforce(
        self, action: str, ctx: AuthContext, target: Mapping[str, Any] | None = None
    ) -> None:
        if not self.allowed(action, ctx, target):
            raise Forbidden(f"Policy doesn't allow {action} to be performed.")
