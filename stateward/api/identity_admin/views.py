"""Keystone's JSON for identity objects, and the small parsers its request bodies need."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request

from stateward.api.body import json_body
from stateward.api.urls import base_url
from stateward.domain.errors import InvalidInput
from stateward.domain.identity import ApplicationCredential, Domain, Project, Role, User


def v3(request: Request, path: str) -> str:
    return f"{base_url(request)}/identity/v3/{path}"


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def collection(request: Request, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: items,
        "links": {"self": str(request.url), "previous": None, "next": None},
    }


def user_view(request: Request, user: User) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "password_expires_at": None,
        "options": {},
        "links": {"self": v3(request, f"users/{user.id}")},
    }
    if user.default_project_id:
        view["default_project_id"] = user.default_project_id
    if user.description:
        view["description"] = user.description
    if user.email:
        view["email"] = user.email
    return view


def project_view(request: Request, project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description,
        "enabled": project.enabled,
        "is_domain": False,
        "parent_id": project.domain_id,
        "tags": [],
        "options": {},
        "links": {"self": v3(request, f"projects/{project.id}")},
    }


def domain_view(request: Request, domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "name": domain.name,
        "description": "",
        "enabled": domain.enabled,
        "tags": [],
        "options": {},
        "links": {"self": v3(request, f"domains/{domain.id}")},
    }


def role_view(request: Request, role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "domain_id": None,
        "description": role.description or None,
        "options": {},
        "links": {"self": v3(request, f"roles/{role.id}")},
    }


def app_cred_view(
    request: Request,
    cred: ApplicationCredential,
    roles: dict[str, str],
    secret: str | None = None,
) -> dict[str, Any]:
    """``roles`` maps role names to ids."""
    view: dict[str, Any] = {
        "id": cred.id,
        "name": cred.name,
        "description": cred.description or None,
        "user_id": cred.user_id,
        "project_id": cred.project_id,
        "expires_at": iso(cred.expires_at),
        "unrestricted": cred.unrestricted,
        "access_rules": [],
        "system": None,
        "roles": [
            {"id": roles.get(name, name), "name": name, "domain_id": None} for name in cred.roles
        ],
        "links": {"self": v3(request, f"users/{cred.user_id}/application_credentials/{cred.id}")},
    }
    if secret is not None:
        view["secret"] = secret
    return view


async def resource(request: Request, key: str) -> dict[str, Any]:
    """The ``{"key": {...}}`` body Keystone expects."""
    payload = await json_body(request)
    if not isinstance(payload, dict) or not isinstance(payload.get(key), dict):
        raise InvalidInput(f"Invalid input for field '{key}': expected an object.")
    return dict(payload[key])


def text(
    body: dict[str, Any],
    key: str,
    *,
    required: bool = False,
    max_len: int = 255,
    empty: bool = True,
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"Invalid input for field '{key}': '{key}' is a required property.")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"Invalid input for field '{key}': expected a string.")
    if len(value) > max_len:
        raise InvalidInput(f"Invalid input for field '{key}': longer than {max_len} characters.")
    if not empty and not value.strip():
        raise InvalidInput(f"Invalid input for field '{key}': must not be empty.")
    return value


def flag(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidInput(f"Invalid input for field '{key}': expected a boolean.")
    return value


def query_bool(value: str | None, key: str) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidInput(f"Invalid value for query parameter '{key}': expected true or false.")
