"""Roles and role assignments (Keystone v3 roles CRUD, grants and role_assignments).

Removing a role from a user on a project revokes that user's tokens on the project at once;
deleting a role revokes the tokens of everyone who held it.
"""

from __future__ import annotations

from typing import Any

from stateward.domain.errors import Forbidden, NotFound
from stateward.domain.identity import STANDARD_ROLES, Role
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


class RoleService:
    def __init__(self, store: Store, revocations: Revocations) -> None:
        self.store = store
        self.revocations = revocations

    # roles ------------------------------------------------------------------------------
    async def create_role(self, name: str, description: str = "") -> Role:
        role = Role(new_id(), name, description)
        async with self.store.uow() as uow:
            await IdentityRepository(uow).add_role(role)
            await uow.commit()
        return role

    async def get_role(self, role_id: str) -> Role:
        async with self.store.uow(readonly=True) as uow:
            role = await IdentityRepository(uow).get_role(role_id)
        if role is None:
            raise NotFound(f"Could not find role: {role_id}.")
        return role

    async def find_role(self, ref: str) -> Role:
        async with self.store.uow(readonly=True) as uow:
            return await role_by_name_or_id(IdentityRepository(uow), ref)

    async def list_roles(self, name: str | None = None) -> list[Role]:
        async with self.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_roles(name=name)

    async def update_role(
        self, role_id: str, *, name: str | None = None, description: str | None = None
    ) -> Role:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            current = await repo.get_role(role_id)
            if current is None:
                raise NotFound(f"Could not find role: {role_id}.")
            if name is not None and name != current.name and current.name in STANDARD_ROLES:
                raise Forbidden(f"The role {current.name} is immutable: it cannot be renamed.")
            updated = Role(
                role_id,
                current.name if name is None else name,
                current.description if description is None else description,
            )
            await repo.update_role(role_id, updated.name, updated.description)
            await uow.commit()
        return updated

    async def delete_role(self, role_id: str) -> None:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            role = await repo.get_role(role_id)
            if role is None:
                raise NotFound(f"Could not find role: {role_id}.")
            if role.name in STANDARD_ROLES:
                raise Forbidden(f"The role {role.name} is immutable: it cannot be deleted.")
            holders = await repo.list_assignments(role_id=role_id)
            tokens = TokenRepository(uow)
            for held in holders:
                await tokens.revoke_where(user_id=held["user_id"], project_id=held["project_id"])
            await repo.delete_role(role_id)
            await uow.commit()
        await self.revocations.announce(
            *[Selector(user_id=h["user_id"], project_id=h["project_id"]) for h in holders]
        )

    # assignments ------------------------------------------------------------------------
    async def _triple(
        self, repo: IdentityRepository, user: str, project: str, role: str
    ) -> tuple[str, str, str]:
        u = await user_by_name_or_id(repo, user)
        p = await project_by_name_or_id(repo, project)
        r = await role_by_name_or_id(repo, role)
        return u.id, p.id, r.id

    async def grant(self, user: str, project: str, role: str) -> None:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            await repo.assign(*await self._triple(repo, user, project, role))
            await uow.commit()

    async def check(self, user: str, project: str, role: str) -> bool:
        async with self.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            return await repo.has_assignment(*await self._triple(repo, user, project, role))

    async def revoke(self, user: str, project: str, role: str) -> None:
        """Take a role away: the user's tokens on that project stop working at once."""
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            user_id, project_id, role_id = await self._triple(repo, user, project, role)
            if not await repo.unassign(user_id, project_id, role_id):
                raise NotFound(f"User {user} has no role {role} on project {project}.")
            await TokenRepository(uow).revoke_where(user_id=user_id, project_id=project_id)
            await uow.commit()
        await self.revocations.announce(Selector(user_id=user_id, project_id=project_id))

    async def roles_of(self, user: str, project: str) -> list[Role]:
        async with self.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            u = await user_by_name_or_id(repo, user)
            p = await project_by_name_or_id(repo, project)
            rows = await repo.list_assignments(user_id=u.id, project_id=p.id)
            return [r for r in await repo.list_roles() if r.id in {x["role_id"] for x in rows}]

    async def assignments(
        self,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        role_id: str | None = None,
    ) -> list[dict[str, Any]]:
        async with self.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_assignments(
                user_id=user_id, project_id=project_id, role_id=role_id
            )
