"""Identity use cases, by responsibility: tokens (authenticate, validate, revoke), principals
(users, projects, domains), roles and assignments, application credentials, bootstrap.

``IdentityService`` holds one of each, sharing the token cache and its revocation channel.
"""

from __future__ import annotations

from datetime import datetime

from stateward.bus import Bus
from stateward.config import IdentityConfig
from stateward.domain.identity import ApplicationCredential, AuthContext, Project, Role, User
from stateward.services.identity.app_creds import AppCredService
from stateward.services.identity.bootstrap import Bootstrap, bootstrap
from stateward.services.identity.principals import PrincipalService, UserChanges
from stateward.services.identity.refs import NameRef, new_id
from stateward.services.identity.revocation import Revocations, TokenCache
from stateward.services.identity.roles import RoleService
from stateward.services.identity.tokens import (
    AppCredMethod,
    AuthMethod,
    PasswordMethod,
    TokenMethod,
    TokenService,
)
from stateward.store.db import Store

__all__ = [
    "AppCredMethod",
    "AuthMethod",
    "Bootstrap",
    "IdentityService",
    "NameRef",
    "PasswordMethod",
    "TokenMethod",
    "UserChanges",
    "new_id",
]


class IdentityService:
    def __init__(self, store: Store, config: IdentityConfig, bus: Bus | None = None) -> None:
        self.store = store
        self.config = config
        self.revocations = Revocations(TokenCache(config.token_cache_seconds), bus)
        self.tokens = TokenService(store, config, self.revocations)
        self.principals = PrincipalService(store, config, self.revocations)
        self.roles = RoleService(store, self.revocations)
        self.app_creds = AppCredService(store, self.revocations)

    # The background part: listening for other processes' revocations.
    async def start(self) -> None:
        await self.revocations.start()

    async def stop(self) -> None:
        await self.revocations.stop()

    async def bootstrap(self, admin_password: str | None) -> Bootstrap:
        return await bootstrap(self.store, self.principals, admin_password)

    # The calls most callers need, kept short.
    async def authenticate(
        self, method: AuthMethod, scope: NameRef | None, *, address: str | None = None
    ) -> tuple[str, AuthContext]:
        return await self.tokens.authenticate(method, scope, address=address)

    async def validate(self, token_id: str) -> AuthContext:
        return await self.tokens.validate(token_id)

    async def revoke(self, token_id: str) -> None:
        await self.tokens.revoke(token_id)

    async def create_project(self, name: str, description: str = "") -> Project:
        return await self.principals.create_project(name, description)

    async def create_user(
        self,
        name: str,
        password: str | None,
        *,
        project: str | None = None,
        role: str | None = None,
    ) -> User:
        return await self.principals.create_user(name, password, project=project, role=role)

    async def set_password(self, user: str, password: str) -> None:
        await self.principals.set_password(user, password)

    async def assign_role(self, user: str, project: str, role: str) -> None:
        await self.roles.grant(user, project, role)

    async def unassign_role(self, user: str, project: str, role: str) -> None:
        await self.roles.revoke(user, project, role)

    async def create_role(self, name: str) -> Role:
        return await self.roles.create_role(name)

    async def create_app_cred(
        self,
        user: str,
        project: str,
        name: str,
        *,
        roles: list[str] | None = None,
        expires_at: datetime | None = None,
        description: str = "",
    ) -> tuple[ApplicationCredential, str]:
        return await self.app_creds.create(
            user, project, name, roles=roles, expires_at=expires_at, description=description
        )
