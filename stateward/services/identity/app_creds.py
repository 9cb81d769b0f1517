"""Application credentials: a user's delegated, role-limited, expiring secret for one project.

Keystone's rules: the roles are a subset of what the creator holds there; the secret is shown
once and stored hashed; a token obtained with a restricted credential cannot create another
credential; deleting one revokes its tokens at once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from stateward.domain.errors import Forbidden, InvalidInput, NotFound
from stateward.domain.events import utcnow
from stateward.domain.identity import ApplicationCredential, effective_roles
from stateward.identity.secrets import hash_secret, new_secret
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


class AppCredService:
    def __init__(self, store: Store, revocations: Revocations) -> None:
        self.store = store
        self.revocations = revocations

    async def create(
        self,
        user: str,
        project: str,
        name: str,
        *,
        roles: list[str] | None = None,
        expires_at: datetime | None = None,
        description: str = "",
        unrestricted: bool = False,
        secret: str | None = None,
        limit_to: list[str] | None = None,
    ) -> tuple[ApplicationCredential, str]:
        """Create a credential; returns it and its secret (shown once, stored hashed).

        ``roles`` are names or ids, by default every role the user holds on the project;
        ``limit_to`` (the creating token's roles) bounds them further.
        """
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInput("expires_at must be in the future.")
        if secret is not None and not secret.strip():
            raise InvalidInput("An application credential secret must not be empty.")
        secret = secret or new_secret()
        secret_hash = await asyncio.to_thread(hash_secret, secret)
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            u = await user_by_name_or_id(repo, user)
            p = await project_by_name_or_id(repo, project)
            held = effective_roles(await repo.role_names(u.id, p.id))
            if limit_to is not None:
                held = [r for r in held if r in limit_to]
            if not held:
                raise Forbidden(f"User {u.name} has no role on project {p.name}.")
            wanted = [(await role_by_name_or_id(repo, r)).name for r in roles] if roles else held
            missing = sorted(set(wanted) - set(held))
            if missing:
                raise Forbidden(f"User {u.name} does not hold role(s) {', '.join(missing)}.")
            cred = ApplicationCredential(
                new_id(),
                name,
                u.id,
                p.id,
                secret_hash,
                sorted(set(wanted)),
                expires_at,
                description,
                unrestricted,
            )
            await repo.add_app_cred(cred)
            await uow.commit()
        return cred, secret

    async def check_may_create(self, app_cred_id: str | None) -> None:
        """A token from a restricted application credential cannot make new credentials."""
        if app_cred_id is None:
            return
        async with self.store.uow(readonly=True) as uow:
            cred = await IdentityRepository(uow).find_app_cred(id=app_cred_id)
        if cred is None or not cred.unrestricted:
            raise Forbidden(
                "A token obtained with a restricted application credential cannot create "
                "application credentials."
            )

    async def get(self, user_id: str, cred_id: str) -> ApplicationCredential:
        async with self.store.uow(readonly=True) as uow:
            cred = await IdentityRepository(uow).find_app_cred(id=cred_id)
        if cred is None or cred.user_id != user_id:
            raise NotFound(f"Could not find application credential: {cred_id}.")
        return cred

    async def list(
        self, user_id: str | None = None, name: str | None = None
    ) -> list[ApplicationCredential]:
        async with self.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_app_creds(user_id, name)

    async def delete(self, cred_id: str, user_id: str | None = None) -> None:
        """Delete a credential (of ``user_id`` when given); its tokens stop working at once."""
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            cred = await repo.find_app_cred(id=cred_id)
            if cred is None or (user_id is not None and cred.user_id != user_id):
                raise NotFound(f"Could not find application credential: {cred_id}.")
            await TokenRepository(uow).revoke_where(app_cred_id=cred_id)
            await repo.delete_app_cred(cred_id)
            await uow.commit()
        await self.revocations.announce(Selector(app_cred_id=cred_id))
