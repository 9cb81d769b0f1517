"""How callers name identity objects (by id, or by name within a domain), and the lookups
every identity use case shares."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from stateward.domain.errors import InvalidInput, NotFound
from stateward.domain.identity import DEFAULT_DOMAIN_ID, Project, Role, User
from stateward.store.repositories.identity import IdentityRepository


@dataclass(frozen=True)
class NameRef:
    """A user, project or domain named by id, or by name within a domain."""

    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


def new_id() -> str:
    return uuid.uuid4().hex


async def resolve_domain_id(repo: IdentityRepository, ref: NameRef) -> str | None:
    if ref.domain_id:
        return ref.domain_id
    if ref.domain_name:
        domain = await repo.find_domain(name=ref.domain_name)
        return domain.id if domain else None
    return None


async def resolve_user(repo: IdentityRepository, ref: NameRef) -> User | None:
    if ref.id:
        return await repo.get_user(ref.id)
    domain_id = await resolve_domain_id(repo, ref)
    if not ref.name or not domain_id:
        raise InvalidInput("user name requires a domain (id or name)")
    return await repo.find_user(ref.name, domain_id)


async def resolve_project(repo: IdentityRepository, ref: NameRef) -> Project | None:
    if ref.id:
        return await repo.get_project(ref.id)
    domain_id = await resolve_domain_id(repo, ref)
    if not ref.name or not domain_id:
        raise InvalidInput("project name requires a domain (id or name)")
    return await repo.find_project(ref.name, domain_id)


async def user_by_name_or_id(repo: IdentityRepository, ref: str) -> User:
    user = await repo.get_user(ref) or await repo.find_user(ref, DEFAULT_DOMAIN_ID)
    if user is None:
        raise NotFound(f"Could not find user: {ref}.")
    return user


async def project_by_name_or_id(repo: IdentityRepository, ref: str) -> Project:
    project = await repo.get_project(ref) or await repo.find_project(ref, DEFAULT_DOMAIN_ID)
    if project is None:
        raise NotFound(f"Could not find project: {ref}.")
    return project


async def role_by_name_or_id(repo: IdentityRepository, ref: str) -> Role:
    role = await repo.get_role(ref) or await repo.find_role(ref)
    if role is None:
        raise NotFound(f"Could not find role: {ref}.")
    return role
