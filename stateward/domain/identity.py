"""Identity rules: who a caller is, in which project, with which roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_DOMAIN_ID = "default"
ADMIN = "admin"
MEMBER = "member"
READER = "reader"
SERVICE = "service"
DATA_PLANE_INTEGRATOR = "data_plane_integrator"
STANDARD_ROLES = (ADMIN, MEMBER, READER, SERVICE, DATA_PLANE_INTEGRATOR)

# Keystone's default implied roles: admin implies member, member implies reader.
IMPLIED_ROLES: dict[str, tuple[str, ...]] = {ADMIN: (MEMBER,), MEMBER: (READER,)}


def effective_roles(assigned: set[str] | list[str]) -> list[str]:
    """Assigned roles plus every role they imply, as a token lists them."""
    result: set[str] = set()
    stack = list(assigned)
    while stack:
        role = stack.pop()
        if role not in result:
            result.add(role)
            stack.extend(IMPLIED_ROLES.get(role, ()))
    return sorted(result)


@dataclass(frozen=True, slots=True)
class Domain:
    id: str
    name: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    domain_id: str
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    domain_id: str
    enabled: bool = True
    password_hash: str | None = None
    default_project_id: str | None = None


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ApplicationCredential:
    id: str
    name: str
    user_id: str
    project_id: str
    secret_hash: str
    roles: list[str]
    expires_at: datetime | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class AuthContext:
    """The validated caller of one request: what policy checks and scoping use."""

    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    roles: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    methods: tuple[str, ...] = ("password",)
    audit_id: str = ""
    app_cred_id: str | None = None
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def policy_creds(self) -> dict[str, object]:
        """The credential dict oslo.policy rules are written against."""
        return {
            "user_id": self.user_id,
            "project_id": self.project_id,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
        }
