"""Identity use cases: bootstrap, authenticate, validate and revoke tokens, manage principals."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from stateward.config import IdentityConfig
from stateward.domain.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from stateward.domain.events import utcnow
from stateward.domain.identity import (
    ADMIN,
    DEFAULT_DOMAIN_ID,
    STANDARD_ROLES,
    ApplicationCredential,
    AuthContext,
    Domain,
    Project,
    Role,
    User,
    effective_roles,
)
from stateward.identity.secrets import (
    hash_secret,
    new_secret,
    new_token_id,
    token_hash,
    verify_secret,
)
from stateward.store.db import Store
from stateward.store.repositories.identity import IdentityRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NameRef:
    """A user, project or domain named by id, or by name within a domain."""

    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


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


def new_id() -> str:
    return uuid.uuid4().hex


class IdentityService:
    def __init__(self, store: Store, config: IdentityConfig) -> None:
        self.store = store
        self.config = config
        self._cache: dict[str, tuple[AuthContext, float]] = {}

    # bootstrap ---------------------------------------------------------------------------
    async def bootstrap(self, admin_password: str | None) -> str | None:
        """Create the default domain, standard roles and the admin user on an empty database.

        Returns the admin password when one was generated, so it can be shown once.
        """
        generated = None
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            if await repo.find_domain(id=DEFAULT_DOMAIN_ID) is None:
                await repo.add_domain(Domain(DEFAULT_DOMAIN_ID, "Default"))
            for name in STANDARD_ROLES:
                if await repo.find_role(name) is None:
                    await repo.add_role(Role(new_id(), name))
            project = await repo.find_project(ADMIN, DEFAULT_DOMAIN_ID)
            if project is None:
                project = Project(new_id(), ADMIN, DEFAULT_DOMAIN_ID, "Bootstrap project")
                await repo.add_project(project)
            user = await repo.find_user(ADMIN, DEFAULT_DOMAIN_ID)
            if user is None:
                password = admin_password
                if password is None:
                    password = generated = new_secret()
                pw_hash = await asyncio.to_thread(hash_secret, password)
                user = User(new_id(), ADMIN, DEFAULT_DOMAIN_ID, True, pw_hash, project.id)
                await repo.add_user(user)
                role = await repo.find_role(ADMIN)
                assert role is not None
                await repo.assign(user.id, project.id, role.id)
                log.info("bootstrapped identity: user admin in project admin")
            await uow.commit()
        return generated

    # authentication ---------------------------------------------------------------------
    async def authenticate(
        self, method: AuthMethod, scope: NameRef | None
    ) -> tuple[str, AuthContext]:
        """Check the credentials and issue a token; raises NotAuthenticated on any mismatch."""
        now = utcnow()
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            app_cred: ApplicationCredential | None = None
            methods: tuple[str, ...]
            if isinstance(method, PasswordMethod):
                user = await self._resolve_user(repo, method.user)
                ok = user is not None and await asyncio.to_thread(
                    verify_secret, method.password, user.password_hash
                )
                if not ok or user is None or not user.enabled:
                    raise NotAuthenticated("The request you have made requires authentication.")
                methods = ("password",)
            elif isinstance(method, TokenMethod):
                previous = await self.validate(method.token_id)
                user = await repo.get_user(previous.user_id)
                if user is None or not user.enabled:
                    raise NotAuthenticated("The request you have made requires authentication.")
                methods = ("token",)
                if scope is None and previous.project_id:
                    scope = NameRef(id=previous.project_id)
            else:
                app_cred, user = await self._resolve_app_cred(repo, method, now)
                methods = ("application_credential",)
                scope = NameRef(id=app_cred.project_id)

            project: Project | None = None
            roles: list[str] = []
            if scope is not None:
                project = await self._resolve_project(repo, scope)
                if project is None or not project.enabled:
                    raise NotAuthenticated(
                        "The project you asked for does not exist or is disabled"
                    )
                assigned = await repo.role_names(user.id, project.id)
                if app_cred is not None:
                    assigned = [r for r in assigned if r in app_cred.roles]
                if not assigned:
                    raise NotAuthenticated(f"User {user.id} has no access to project {project.id}")
                roles = effective_roles(assigned)

            expires = now + timedelta(seconds=self.config.token_expiration)
            if app_cred is not None and app_cred.expires_at is not None:
                expires = min(expires, app_cred.expires_at)
            token_id = new_token_id()
            audit_id = new_id()[:22]
            await repo.add_token(
                id_hash=token_hash(token_id),
                user_id=user.id,
                project_id=project.id if project else None,
                methods=list(methods),
                roles=roles,
                app_cred_id=app_cred.id if app_cred else None,
                audit_id=audit_id,
                issued_at=now,
                expires_at=expires,
            )
            user_domain = await repo.find_domain(id=user.domain_id)
            project_domain = await repo.find_domain(id=project.domain_id) if project else None
            await uow.commit()
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
            methods=methods,
            audit_id=audit_id,
            app_cred_id=app_cred.id if app_cred else None,
            extras={
                "user_domain_name": user_domain.name if user_domain else user.domain_id,
                "project_domain_name": project_domain.name if project_domain else "",
            },
        )
        return token_id, ctx

    async def _resolve_domain_id(self, repo: IdentityRepository, ref: NameRef) -> str | None:
        if ref.domain_id:
            return ref.domain_id
        if ref.domain_name:
            domain = await repo.find_domain(name=ref.domain_name)
            return domain.id if domain else None
        return None

    async def _resolve_user(self, repo: IdentityRepository, ref: NameRef) -> User | None:
        if ref.id:
            return await repo.get_user(ref.id)
        domain_id = await self._resolve_domain_id(repo, ref)
        if not ref.name or not domain_id:
            raise InvalidInput("user name requires a domain (id or name)")
        return await repo.find_user(ref.name, domain_id)

    async def _resolve_project(self, repo: IdentityRepository, ref: NameRef) -> Project | None:
        if ref.id:
            return await repo.get_project(ref.id)
        domain_id = await self._resolve_domain_id(repo, ref)
        if not ref.name or not domain_id:
            raise InvalidInput("project name requires a domain (id or name)")
        return await repo.find_project(ref.name, domain_id)

    async def _resolve_app_cred(
        self, repo: IdentityRepository, method: AppCredMethod, now: datetime
    ) -> tuple[ApplicationCredential, User]:
        unauthorized = NotAuthenticated("The request you have made requires authentication.")
        if method.id:
            cred = await repo.find_app_cred(id=method.id)
        else:
            if method.user is None or not method.name:
                raise InvalidInput("application credential by name requires its user")
            owner = await self._resolve_user(repo, method.user)
            cred = await repo.find_app_cred(name=method.name, user_id=owner.id) if owner else None
        if cred is None or (cred.expires_at is not None and cred.expires_at <= now):
            raise unauthorized
        if not await asyncio.to_thread(verify_secret, method.secret, cred.secret_hash):
            raise unauthorized
        user = await repo.get_user(cred.user_id)
        if user is None or not user.enabled:
            raise unauthorized
        return cred, user

    async def validate(self, token_id: str) -> AuthContext:
        """The caller a token stands for; cached briefly so requests need no store round trip."""
        key = token_hash(token_id)
        cached = self._cache.get(key)
        mono = time.monotonic()
        now = utcnow()
        if cached is not None and cached[1] > mono and cached[0].expires_at > now:
            return cached[0]
        async with self.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            row = await repo.get_token(key)
            if row is None or row.revoked or row.expires_at <= now:
                self._cache.pop(key, None)
                raise NotAuthenticated("The request you have made requires authentication.")
            user = await repo.get_user(row.user_id)
            if user is None or not user.enabled:
                raise NotAuthenticated("The request you have made requires authentication.")
            project = await repo.get_project(row.project_id) if row.project_id else None
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
            },
        )
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (ctx, mono + self.config.token_cache_seconds)
        return ctx

    async def revoke(self, token_id: str) -> None:
        key = token_hash(token_id)
        self._cache.pop(key, None)
        async with self.store.uow() as uow:
            if not await IdentityRepository(uow).revoke_token(key):
                raise NotFound("Could not find token")
            await uow.commit()

    # administration ---------------------------------------------------------------------
    async def create_project(
        self, name: str, description: str = "", domain_id: str = DEFAULT_DOMAIN_ID
    ) -> Project:
        project = Project(new_id(), name, domain_id, description)
        async with self.store.uow() as uow:
            await IdentityRepository(uow).add_project(project)
            await uow.commit()
        return project

    async def create_user(
        self,
        name: str,
        password: str | None,
        *,
        project: str | None = None,
        role: str | None = None,
        domain_id: str = DEFAULT_DOMAIN_ID,
    ) -> User:
        """Create a user; with ``project`` and ``role`` it is assigned in the same transaction."""
        pw_hash = await asyncio.to_thread(hash_secret, password) if password else None
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            target = await self._project_by_name_or_id(repo, project) if project else None
            user = User(new_id(), name, domain_id, True, pw_hash, target.id if target else None)
            await repo.add_user(user)
            if target is not None and role:
                await self._assign(repo, user, target, role)
            await uow.commit()
        return user

    async def set_password(self, user: str, password: str) -> None:
        pw_hash = await asyncio.to_thread(hash_secret, password)
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            found = await self._user_by_name_or_id(repo, user)
            await repo.set_password(found.id, pw_hash)
            await uow.commit()

    async def assign_role(self, user: str, project: str, role: str) -> None:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            await self._assign(
                repo,
                await self._user_by_name_or_id(repo, user),
                await self._project_by_name_or_id(repo, project),
                role,
            )
            await uow.commit()

    async def unassign_role(self, user: str, project: str, role: str) -> None:
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            found_role = await repo.find_role(role)
            if found_role is None:
                raise NotFound(f"role {role} not found")
            u = await self._user_by_name_or_id(repo, user)
            p = await self._project_by_name_or_id(repo, project)
            if not await repo.unassign(u.id, p.id, found_role.id):
                raise NotFound(f"user {user} has no role {role} on project {project}")
            await uow.commit()

    async def create_role(self, name: str) -> Role:
        role = Role(new_id(), name)
        async with self.store.uow() as uow:
            await IdentityRepository(uow).add_role(role)
            await uow.commit()
        return role

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
        """Returns the credential and its secret (shown once, stored hashed)."""
        secret = new_secret()
        secret_hash = await asyncio.to_thread(hash_secret, secret)
        async with self.store.uow() as uow:
            repo = IdentityRepository(uow)
            u = await self._user_by_name_or_id(repo, user)
            p = await self._project_by_name_or_id(repo, project)
            held = await repo.role_names(u.id, p.id)
            if not held:
                raise Conflict(f"user {u.name} has no role on project {p.name}")
            wanted = roles or held
            missing = sorted(set(wanted) - set(held))
            if missing:
                raise InvalidInput(f"user {u.name} does not hold role(s) {', '.join(missing)}")
            cred = ApplicationCredential(
                new_id(), name, u.id, p.id, secret_hash, list(wanted), expires_at, description
            )
            await repo.add_app_cred(cred)
            await uow.commit()
        return cred, secret

    async def _assign(
        self, repo: IdentityRepository, user: User, project: Project, role: str
    ) -> None:
        found = await repo.find_role(role)
        if found is None:
            raise NotFound(f"role {role} not found")
        await repo.assign(user.id, project.id, found.id)

    async def _user_by_name_or_id(self, repo: IdentityRepository, ref: str) -> User:
        user = await repo.get_user(ref) or await repo.find_user(ref, DEFAULT_DOMAIN_ID)
        if user is None:
            raise NotFound(f"user {ref} not found")
        return user

    async def _project_by_name_or_id(self, repo: IdentityRepository, ref: str) -> Project:
        project = await repo.get_project(ref) or await repo.find_project(ref, DEFAULT_DOMAIN_ID)
        if project is None:
            raise NotFound(f"project {ref} not found")
        return project
