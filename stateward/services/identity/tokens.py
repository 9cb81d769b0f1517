"""Authentication and tokens: issue (password, token, application credential), validate,
revoke — Keystone's rules for token chains and application-credential restrictions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from stateward.config import IdentityConfig
from stateward.domain.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from stateward.domain.events import utcnow
from stateward.domain.identity import (
    ApplicationCredential,
    AuthContext,
    Project,
    User,
    effective_roles,
)
from stateward.identity.secrets import new_token_id, token_hash, verify_secret
from stateward.services.identity.refs import NameRef, new_id, resolve_project, resolve_user
from stateward.services.identity.revocation import Revocations, Selector, TokenCache
from stateward.services.identity.throttle import Throttle
from stateward.store.db import Store
from stateward.store.repositories.identity import IdentityRepository
from stateward.store.repositories.tokens import TokenRepository

UNAUTHORIZED = "The request you have made requires authentication."


@dataclass(frozen=True)
class PasswordMethod:
    user: NameRef
    password: str


@dataclass(frozen=True)
class TokenMethod:
    token_id: str


@dataclass(frozen=True)
class AppCredMethod:
    secret: str
    id: str | None = None
    name: str | None = None
    user: NameRef | None = None


AuthMethod = PasswordMethod | TokenMethod | AppCredMethod


class _BadSecret(Exception):
    """A wrong password or secret: counted against the user and the address."""

    def __init__(self, user: User | None) -> None:
        self.user = user


@dataclass
class _Grant:
    """What a successful authentication decided the new token carries."""

    user: User
    methods: tuple[str, ...]
    scope: NameRef | None
    app_cred: ApplicationCredential | None = None
    parent: AuthContext | None = None


class TokenService:
    def __init__(self, store: Store, config: IdentityConfig, revocations: Revocations) -> None:
        self.store = store
        self.config = config
        self.revocations = revocations
        self.cache: TokenCache = revocations.cache
        self.throttle = Throttle(store, config)

    # issue ------------------------------------------------------------------------------
    async def authenticate(
        self, method: AuthMethod, scope: NameRef | None, *, address: str | None = None
    ) -> tuple[str, AuthContext]:
        """Check the credentials and issue a token; raises NotAuthenticated on any mismatch,
        TooManyRequests when ``address`` failed too often."""
        now = utcnow()
        await self.throttle.check_address(address, now)
        try:
            return await self._issue(method, scope, now)
        except _BadSecret as failure:
            await self.throttle.record_failure(address, failure.user, now)
            raise NotAuthenticated(UNAUTHORIZED) from None

    async def _issue(
        self, method: AuthMethod, scope: NameRef | None, now: datetime
    ) -> tuple[str, AuthContext]:
        if isinstance(method, TokenMethod):
            # Validated outside the transaction below: it may need the store itself.
            parent = await self.validate(method.token_id)
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            if isinstance(method, PasswordMethod):
                grant = await self._password(repo, method, scope, now)
            elif isinstance(method, TokenMethod):
                grant = await self._token(repo, parent, scope)
            else:
                grant = await self._app_cred(repo, method, scope, now)
            project, roles = await self._scope(repo, grant)
            expires = now + timedelta(seconds=self.config.token_expiration)
            if grant.app_cred is not None and grant.app_cred.expires_at is not None:
                expires = min(expires, grant.app_cred.expires_at)
            audit_id = new_id()[:22]
            chain_id, parent_audit = audit_id, None
            if grant.parent is not None:
                # Keystone: a token from a token keeps its parent's expiry and audit chain.
                expires = min(expires, grant.parent.expires_at)
                chain_id = grant.parent.audit_chain_id or grant.parent.audit_id
                parent_audit = grant.parent.audit_id
            token_id = new_token_id()
            await TokenRepository(uow).add(
                id_hash=token_hash(token_id),
                user_id=grant.user.id,
                project_id=project.id if project else None,
                methods=list(grant.methods),
                roles=roles,
                app_cred_id=grant.app_cred.id if grant.app_cred else None,
                audit_id=audit_id,
                audit_chain_id=chain_id,
                parent_audit_id=parent_audit,
                issued_at=now,
                expires_at=expires,
            )
            if grant.user.failed_auth_count:
                await repo.clear_failed_auth(grant.user.id)
            user_domain = await repo.find_domain(id=grant.user.domain_id)
            project_domain = await repo.find_domain(id=project.domain_id) if project else None
            await uow.commit()
        user = grant.user
        ctx = AuthContext(
            user_id=user.id,
            user_name=user.name,
            user_domain_id=user.domain_id,
            project_id=project.id if project else None,
            project_name=project.name if project else None,
            project_domain_id=project.domain_id if project else None,
            roles=tuple(roles),
            expires_at=expires,
            issued_at=now,
            methods=grant.methods,
            audit_id=audit_id,
            app_cred_id=grant.app_cred.id if grant.app_cred else None,
            extras={
                "user_domain_name": user_domain.name if user_domain else user.domain_id,
                "project_domain_name": project_domain.name if project_domain else "",
                **(_app_cred_extras(grant.app_cred) if grant.app_cred else {}),
            },
            audit_chain_id=chain_id,
        )
        return token_id, ctx

    async def _password(
        self, repo: IdentityRepository, method: PasswordMethod, scope: NameRef | None, now: datetime
    ) -> _Grant:
        user = await resolve_user(repo, method.user)
        if user is not None:
            self.throttle.check_user(user, now)
        ok = user is not None and await asyncio.to_thread(
            verify_secret, method.password, user.password_hash
        )
        if not ok or user is None:
            raise _BadSecret(user)
        if not user.enabled:
            raise NotAuthenticated(UNAUTHORIZED)
        return _Grant(user, ("password",), scope)

    async def _token(
        self, repo: IdentityRepository, parent: AuthContext, scope: NameRef | None
    ) -> _Grant:
        """Keystone's token method: the same user, no later expiry, the same audit chain,
        and never more than the parent had (its roles, its application credential)."""
        user = await repo.get_user(parent.user_id)
        if user is None or not user.enabled:
            raise NotAuthenticated(UNAUTHORIZED)
        app_cred = None
        if parent.app_cred_id is not None:
            app_cred = await repo.find_app_cred(id=parent.app_cred_id)
            if app_cred is None:
                raise NotAuthenticated(UNAUTHORIZED)
            wanted = await resolve_project(repo, scope) if scope is not None else None
            if scope is not None and (wanted is None or wanted.id != app_cred.project_id):
                raise Forbidden(
                    "A token obtained with an application credential cannot be rescoped."
                )
        if scope is None and parent.project_id:
            scope = NameRef(id=parent.project_id)
        return _Grant(user, ("token",), scope, app_cred, parent)

    async def _app_cred(
        self,
        repo: IdentityRepository,
        method: AppCredMethod,
        scope: NameRef | None,
        now: datetime,
    ) -> _Grant:
        if method.id:
            cred = await repo.find_app_cred(id=method.id)
        else:
            if method.user is None or not method.name:
                raise InvalidInput("application credential by name requires its user")
            owner = await resolve_user(repo, method.user)
            cred = await repo.find_app_cred(name=method.name, user_id=owner.id) if owner else None
        # A wrong secret counts against the address only: secrets are long and random, and a
        # stranger guessing them must not lock the owner's password out.
        if cred is None or not await asyncio.to_thread(
            verify_secret, method.secret, cred.secret_hash
        ):
            raise _BadSecret(None)
        user = await repo.get_user(cred.user_id)
        if user is None or not user.enabled:
            raise NotAuthenticated(UNAUTHORIZED)
        if cred.expires_at is not None and cred.expires_at <= now:
            raise NotAuthenticated("The application credential has expired.")
        if scope is not None:
            wanted = await resolve_project(repo, scope)
            if wanted is None or wanted.id != cred.project_id:
                raise NotAuthenticated("Application credentials cannot request a scope.")
        return _Grant(user, ("application_credential",), NameRef(id=cred.project_id), cred)

    async def _scope(
        self, repo: IdentityRepository, grant: _Grant
    ) -> tuple[Project | None, list[str]]:
        if grant.scope is None:
            return None, []
        project = await resolve_project(repo, grant.scope)
        if project is None or not project.enabled:
            raise NotAuthenticated("The project you asked for does not exist or is disabled")
        assigned = await repo.role_names(grant.user.id, project.id)
        roles = effective_roles(assigned)
        if grant.app_cred is not None and not grant.app_cred.unrestricted:
            roles = [r for r in roles if r in effective_roles(grant.app_cred.roles)]
        if grant.parent is not None and grant.parent.project_id == project.id:
            roles = [r for r in roles if r in grant.parent.roles]
        if not roles:
            raise NotAuthenticated(f"User {grant.user.id} has no access to project {project.id}")
        return project, roles

    # validate and revoke ----------------------------------------------------------------
    async def validate(self, token_id: str) -> AuthContext:
        """The caller a token stands for; cached briefly so requests need no store round trip
        (a revocation drops the cached entry in every process)."""
        key = token_hash(token_id)
        now = utcnow()
        cached = self.cache.get(key)
        if cached is not None and cached.expires_at > now:
            return cached
        async with self.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            row = await TokenRepository(uow).get(key)
            if row is None or row.revoked or row.expires_at <= now:
                raise NotAuthenticated(UNAUTHORIZED)
            user = await repo.get_user(row.user_id)
            if user is None or not user.enabled:
                raise NotAuthenticated(UNAUTHORIZED)
            project = await repo.get_project(row.project_id) if row.project_id else None
            if row.project_id and (project is None or not project.enabled):
                raise NotAuthenticated(UNAUTHORIZED)
            extras = {}
            if row.app_cred_id is not None:
                cred = await repo.find_app_cred(id=row.app_cred_id)
                if cred is None:
                    raise NotAuthenticated(UNAUTHORIZED)
                extras = _app_cred_extras(cred)
            user_domain = await repo.find_domain(id=user.domain_id)
            project_domain = await repo.find_domain(id=project.domain_id) if project else None
        ctx = AuthContext(
            user_id=user.id,
            user_name=user.name,
            user_domain_id=user.domain_id,
            project_id=project.id if project else None,
            project_name=project.name if project else None,
            project_domain_id=project.domain_id if project else None,
            roles=tuple(row.roles),
            expires_at=row.expires_at,
            issued_at=row.issued_at,
            methods=tuple(row.methods),
            audit_id=row.audit_id,
            app_cred_id=row.app_cred_id,
            extras={
                "user_domain_name": user_domain.name if user_domain else user.domain_id,
                "project_domain_name": project_domain.name if project_domain else "",
                **extras,
            },
            audit_chain_id=row.audit_chain_id or row.audit_id,
        )
        self.cache.put(key, ctx)
        return ctx

    async def revoke(self, token_id: str) -> None:
        """Revoke a token and every token obtained from it with the token method."""
        key = token_hash(token_id)
        async with self.store.uow() as uow:
            tokens = TokenRepository(uow)
            row = await tokens.get(key)
            if row is None or not await tokens.revoke(key):
                raise NotFound("Could not find token")
            await tokens.revoke_descendants(row.audit_id, row.audit_chain_id or row.audit_id)
            await uow.commit()
        chain = row.audit_chain_id or row.audit_id
        await self.revocations.announce(Selector(token_hash=key), Selector(audit_chain_id=chain))


def _app_cred_extras(cred: ApplicationCredential) -> dict[str, str]:
    return {
        "app_cred_name": cred.name,
        "app_cred_unrestricted": "true" if cred.unrestricted else "false",
    }
