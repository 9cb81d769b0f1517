"""Users, projects and domains: Keystone v3's administration use cases.

Every change that takes access away (a password changed, a user or project disabled or deleted)
revokes the affected tokens in the same transaction and then drops them from every process's
validation cache.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from stateward.config import IdentityConfig
from stateward.domain.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from stateward.domain.identity import (
    ADMIN,
    DEFAULT_DOMAIN_ID,
    Domain,
    Project,
    User,
    check_password,
)
from stateward.identity.secrets import hash_secret, verify_secret
from stateward.services.identity.refs import (
    new_id,
    project_by_name_or_id,
    role_by_name_or_id,
    user_by_name_or_id,
)
from stateward.services.identity.revocation import Revocations, Selector
from stateward.store.db import Store
from stateward.store.repositories.identity import IdentityRepository
from stateward.store.repositories.tokens import TokenRepository

UNSET: Any = object()


@dataclass(frozen=True)
class UserChanges:
    """A PATCH of a user: only the fields given are changed."""

    name: str | None = None
    password: str | None = None
    enabled: bool | None = None
    description: str | None = None
    email: Any = UNSET
    default_project_id: Any = UNSET


class PrincipalService:
    def __init__(self, store: Store, config: IdentityConfig, revocations: Revocations) -> None:
        self.store = store
        self.config = config
        self.revocations = revocations

    def check_password(self, password: str) -> None:
        check_password(
            password,
            min_length=self.config.password_min_length,
            regex=self.config.password_regex,
            description=self.config.password_regex_description,
        )

    async def _hash(self, password: str) -> str:
        self.check_password(password)
        return await asyncio.to_thread(hash_secret, password)

    # domains ----------------------------------------------------------------------------
    async def list_domains(self, name: str | None = None) -> list[Domain]:
        async with self.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            if name is not None:
                found = await repo.find_domain(name=name)
                return [found] if found else []
            default = await repo.find_domain(id=DEFAULT_DOMAIN_ID)
            return [default] if default else []

    async def get_domain(self, ref: str) -> Domain:
        async with self.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            found = await repo.find_domain(id=ref) or await repo.find_domain(name=ref)
        if found is None:
            raise NotFound(f"Could not find domain: {ref}.")
        return found

    async def _domain_id(self, repo: IdentityRepository, domain_id: str | None) -> str:
        wanted = domain_id or DEFAULT_DOMAIN_ID
        if await repo.find_domain(id=wanted) is None:
            raise InvalidInput(f"Could not find domain: {wanted}.")
        return wanted

    # projects ---------------------------------------------------------------------------
    async def create_project(
        self,
        name: str,
        description: str = "",
        domain_id: str | None = None,
        enabled: bool = True,
    ) -> Project:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            project = Project(
                new_id(), name, await self._domain_id(repo, domain_id), description, enabled
            )
            await repo.add_project(project)
            await uow.commit()
        return project

    async def get_project(self, ref: str) -> Project:
        async with self.store.uow(readonly=True) as uow:
            project = await IdentityRepository(uow).get_project(ref)
        if project is None:
            raise NotFound(f"Could not find project: {ref}.")
        return project

    async def find_project(self, ref: str) -> Project:
        """By id, or by name in the default domain (the CLI's way)."""
        async with self.store.uow(readonly=True) as uow:
            return await project_by_name_or_id(IdentityRepository(uow), ref)

    async def list_projects(self, **filters: Any) -> list[Project]:
        async with self.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_projects(**filters)

    async def user_projects(self, user_id: str) -> list[Project]:
        async with self.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            if await repo.get_user(user_id) is None:
                raise NotFound(f"Could not find user: {user_id}.")
            ids = await repo.user_projects(user_id)
            return await repo.list_projects(ids=ids) if ids else []

    async def update_project(
        self,
        project_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Project:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            current = await repo.get_project(project_id)
            if current is None:
                raise NotFound(f"Could not find project: {project_id}.")
            updated = replace(
                current,
                name=current.name if name is None else name,
                description=current.description if description is None else description,
                enabled=current.enabled if enabled is None else enabled,
            )
            await repo.update_project(
                project_id,
                updated.name,
                description=updated.description,
                enabled=updated.enabled,
            )
            disabled = current.enabled and not updated.enabled
            if disabled:
                await TokenRepository(uow).revoke_where(project_id=project_id)
            await uow.commit()
        if disabled:
            await self.revocations.announce(Selector(project_id=project_id))
        return updated

    async def delete_project(self, project_id: str) -> None:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            project = await repo.get_project(project_id)
            if project is None:
                raise NotFound(f"Could not find project: {project_id}.")
            if project.name == ADMIN and project.domain_id == DEFAULT_DOMAIN_ID:
                raise Forbidden("The bootstrap project admin cannot be deleted.")
            await TokenRepository(uow).revoke_where(project_id=project_id)
            await repo.delete_project(project_id)
            await uow.commit()
        await self.revocations.announce(Selector(project_id=project_id))

    # users ------------------------------------------------------------------------------
    async def create_user(
        self,
        name: str,
        password: str | None,
        *,
        project: str | None = None,
        role: str | None = None,
        domain_id: str | None = None,
        default_project_id: str | None = None,
        enabled: bool = True,
        description: str = "",
        email: str | None = None,
    ) -> User:
        """Create a user; with ``project`` and ``role`` it is assigned in the same transaction."""
        pw_hash = await self._hash(password) if password is not None else None
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            target = await project_by_name_or_id(repo, project) if project else None
            if (
                default_project_id is not None
                and await repo.get_project(default_project_id) is None
            ):
                raise InvalidInput(f"Could not find project: {default_project_id}.")
            user = User(
                new_id(),
                name,
                await self._domain_id(repo, domain_id),
                enabled,
                pw_hash,
                default_project_id or (target.id if target else None),
                description,
                email,
            )
            await repo.add_user(user)
            if target is not None and role:
                found = await role_by_name_or_id(repo, role)
                await repo.assign(user.id, target.id, found.id)
            await uow.commit()
        return user

    async def get_user(self, user_id: str) -> User:
        async with self.store.uow(readonly=True) as uow:
            user = await IdentityRepository(uow).get_user(user_id)
        if user is None:
            raise NotFound(f"Could not find user: {user_id}.")
        return user

    async def find_user(self, ref: str) -> User:
        async with self.store.uow(readonly=True) as uow:
            return await user_by_name_or_id(IdentityRepository(uow), ref)

    async def list_users(self, **filters: Any) -> list[User]:
        async with self.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_users(**filters)

    async def update_user(self, user_id: str, changes: UserChanges) -> User:
        pw_hash = await self._hash(changes.password) if changes.password is not None else None
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            current = await repo.get_user(user_id)
            if current is None:
                raise NotFound(f"Could not find user: {user_id}.")
            if changes.default_project_id not in (UNSET, None) and (
                await repo.get_project(changes.default_project_id) is None
            ):
                raise InvalidInput(f"Could not find project: {changes.default_project_id}.")
            updated = replace(
                current,
                name=changes.name if changes.name is not None else current.name,
                enabled=changes.enabled if changes.enabled is not None else current.enabled,
                description=(
                    changes.description if changes.description is not None else current.description
                ),
                email=current.email if changes.email is UNSET else changes.email,
                default_project_id=(
                    current.default_project_id
                    if changes.default_project_id is UNSET
                    else changes.default_project_id
                ),
            )
            await repo.update_user(
                user_id,
                updated.name,
                enabled=updated.enabled,
                description=updated.description,
                email=updated.email,
                default_project_id=updated.default_project_id,
            )
            if pw_hash is not None:
                await repo.set_password(user_id, pw_hash)
            lose_access = pw_hash is not None or (current.enabled and not updated.enabled)
            if lose_access:
                await TokenRepository(uow).revoke_where(user_id=user_id)
            await uow.commit()
        if lose_access:
            await self.revocations.announce(Selector(user_id=user_id))
        return updated

    async def set_password(self, user: str, password: str) -> None:
        """An administrator sets a user's password (by name or id); the user's tokens go."""
        found = await self.find_user(user)
        await self.update_user(found.id, UserChanges(password=password))

    async def change_password(self, user_id: str, original: str, password: str) -> None:
        """A user changes their own password (Keystone's POST /users/{id}/password)."""
        current = await self.get_user(user_id)
        if not await asyncio.to_thread(verify_secret, original, current.password_hash):
            raise NotAuthenticated("Invalid original password.")
        if original == password:
            raise InvalidInput("The new password must differ from the original password.")
        await self.update_user(user_id, UserChanges(password=password))

    async def delete_user(self, user_id: str) -> None:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            user = await repo.get_user(user_id)
            if user is None:
                raise NotFound(f"Could not find user: {user_id}.")
            await TokenRepository(uow).revoke_where(user_id=user_id)
            await repo.delete_user(user_id)
            await uow.commit()
        await self.revocations.announce(Selector(user_id=user_id))
