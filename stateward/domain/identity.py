"""Identity rules: who a caller is, in which project, with which roles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stateward.domain.errors import InvalidInput

DEFAULT_DOMAIN_ID = "default"
ADMIN = "admin"
MEMBER = "member"
READER = "reader"
SERVICE = "service"
DATA_PLANE_INTEGRATOR = "data_plane_integrator"
STANDARD_ROLES = (ADMIN, MEMBER, READER, SERVICE, DATA_PLANE_INTEGRATOR)

# Keystone's default implied roles: admin implies member, member implies reader. ``_member_``
# was Keystone's default member role (``member_role_name``) before ``member``; tools of that
# time grant it (OPNFV Doctor's setup does) and Keystone's upgrade path makes it imply member.
LEGACY_MEMBER = "_member_"
IMPLIED_ROLES: dict[str, tuple[str, ...]] = {
    ADMIN: (MEMBER,),
    MEMBER: (READER,),
    LEGACY_MEMBER: (MEMBER,),
}


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
    description: str = ""
    email: str | None = None
    failed_auth_count: int = 0
    failed_auth_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    name: str
    description: str = ""


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
    unrestricted: bool = False


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
    audit_chain_id: str | None = None

    @property
    def audit_ids(self) -> list[str]:
        """Keystone's ``audit_ids``: this token's id, then its chain's first token's."""
        if self.audit_chain_id and self.audit_chain_id != self.audit_id:
            return [self.audit_id, self.audit_chain_id]
        return [self.audit_id]

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


def check_password(
    password: str, *, min_length: int, regex: str | None = None, description: str = ""
) -> None:
    """Refuse empty, blank and too short passwords (and, optionally, Keystone's
    ``password_regex``) with a message that says what is required."""
    if not isinstance(password, str) or not password.strip():
        raise InvalidInput("Password must not be empty.")
    if len(password) < min_length:
        raise InvalidInput(f"Password is too short: at least {min_length} characters are required.")
    if regex and re.fullmatch(regex, password) is None:
        raise InvalidInput(
            "Password does not meet the password requirements"
            + (f": {description}" if description else ".")
        )


def locked_until(user: User, *, attempts: int, duration: float, now: datetime) -> datetime | None:
    """When a user locked out by Keystone's rule (``lockout_failure_attempts`` failures,
    ``lockout_duration`` seconds) may try again; None when not locked."""
    if attempts <= 0 or user.failed_auth_count < attempts or user.failed_auth_at is None:
        return None
    until = user.failed_auth_at + timedelta(seconds=duration)
    return until if until > now else None
