"""Identity queries: domains, projects, users, roles, assignments, app credentials, tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stateward.domain.errors import Conflict
from stateward.domain.identity import ApplicationCredential, Domain, Project, Role, User
from stateward.store.db import UnitOfWork
from stateward.store.tables import identity as t


def _user(row: Any) -> User:
    return User(
        row.id, row.name, row.domain_id, row.enabled, row.password_hash, row.default_project_id
    )


def _project(row: Any) -> Project:
    return Project(row.id, row.name, row.domain_id, row.description, row.enabled)


class IdentityRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    async def _insert(self, table: sa.Table, what: str, **values: Any) -> None:
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(sa.insert(table).values(**values))
        except IntegrityError:
            raise Conflict(f"{what} already exists") from None

    # domains
    async def add_domain(self, domain: Domain) -> None:
        await self._insert(
            t.domains,
            f"domain {domain.name}",
            id=domain.id,
            name=domain.name,
            enabled=domain.enabled,
        )

    async def find_domain(self, *, id: str | None = None, name: str | None = None) -> Domain | None:
        query = sa.select(t.domains)
        query = query.where(t.domains.c.id == id) if id else query.where(t.domains.c.name == name)
        row = (await self.conn.execute(query)).first()
        return Domain(row.id, row.name, row.enabled) if row else None

    # projects
    async def add_project(self, project: Project) -> None:
        await self._insert(
            t.projects,
            f"project {project.name}",
            id=project.id,
            name=project.name,
            domain_id=project.domain_id,
            description=project.description,
            enabled=project.enabled,
        )

    async def get_project(self, project_id: str) -> Project | None:
        row = (
            await self.conn.execute(sa.select(t.projects).where(t.projects.c.id == project_id))
        ).first()
        return _project(row) if row else None

    async def find_project(self, name: str, domain_id: str) -> Project | None:
        row = (
            await self.conn.execute(
                sa.select(t.projects).where(
                    t.projects.c.name == name, t.projects.c.domain_id == domain_id
                )
            )
        ).first()
        return _project(row) if row else None

    async def list_projects(self) -> list[Project]:
        rows = await self.conn.execute(sa.select(t.projects).order_by(t.projects.c.name))
        return [_project(r) for r in rows]

    async def delete_project(self, project_id: str) -> bool:
        result = await self.conn.execute(sa.delete(t.projects).where(t.projects.c.id == project_id))
        return bool(result.rowcount)

    # users
    async def add_user(self, user: User) -> None:
        await self._insert(
            t.users,
            f"user {user.name}",
            id=user.id,
            name=user.name,
            domain_id=user.domain_id,
            enabled=user.enabled,
            password_hash=user.password_hash,
            default_project_id=user.default_project_id,
        )

    async def get_user(self, user_id: str) -> User | None:
        row = (await self.conn.execute(sa.select(t.users).where(t.users.c.id == user_id))).first()
        return _user(row) if row else None

    async def find_user(self, name: str, domain_id: str) -> User | None:
        row = (
            await self.conn.execute(
                sa.select(t.users).where(t.users.c.name == name, t.users.c.domain_id == domain_id)
            )
        ).first()
        return _user(row) if row else None

    async def list_users(self) -> list[User]:
        rows = await self.conn.execute(sa.select(t.users).order_by(t.users.c.name))
        return [_user(r) for r in rows]

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self.conn.execute(
            sa.update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash)
        )

    async def delete_user(self, user_id: str) -> bool:
        result = await self.conn.execute(sa.delete(t.users).where(t.users.c.id == user_id))
        return bool(result.rowcount)

    # roles and assignments
    async def add_role(self, role: Role) -> None:
        await self._insert(t.roles, f"role {role.name}", id=role.id, name=role.name)

    async def find_role(self, name: str) -> Role | None:
        row = (await self.conn.execute(sa.select(t.roles).where(t.roles.c.name == name))).first()
        return Role(row.id, row.name) if row else None

    async def list_roles(self) -> list[Role]:
        rows = await self.conn.execute(sa.select(t.roles).order_by(t.roles.c.name))
        return [Role(r.id, r.name) for r in rows]

    async def assign(self, user_id: str, project_id: str, role_id: str) -> None:
        exists = (
            await self.conn.execute(
                sa.select(t.role_assignments).where(
                    t.role_assignments.c.user_id == user_id,
                    t.role_assignments.c.project_id == project_id,
                    t.role_assignments.c.role_id == role_id,
                )
            )
        ).first()
        if not exists:
            await self.conn.execute(
                sa.insert(t.role_assignments).values(
                    user_id=user_id, project_id=project_id, role_id=role_id
                )
            )

    async def unassign(self, user_id: str, project_id: str, role_id: str) -> bool:
        result = await self.conn.execute(
            sa.delete(t.role_assignments).where(
                t.role_assignments.c.user_id == user_id,
                t.role_assignments.c.project_id == project_id,
                t.role_assignments.c.role_id == role_id,
            )
        )
        return bool(result.rowcount)

    async def role_names(self, user_id: str, project_id: str) -> list[str]:
        query = (
            sa.select(t.roles.c.name)
            .join(t.role_assignments, t.role_assignments.c.role_id == t.roles.c.id)
            .where(
                t.role_assignments.c.user_id == user_id,
                t.role_assignments.c.project_id == project_id,
            )
        )
        return list((await self.conn.execute(query)).scalars())

    async def assignments(self) -> list[tuple[str, str, str]]:
        """(user name, project name, role name) for every assignment."""
        query = (
            sa.select(t.users.c.name, t.projects.c.name, t.roles.c.name)
            .select_from(t.role_assignments)
            .join(t.users, t.users.c.id == t.role_assignments.c.user_id)
            .join(t.projects, t.projects.c.id == t.role_assignments.c.project_id)
            .join(t.roles, t.roles.c.id == t.role_assignments.c.role_id)
            .order_by(t.users.c.name, t.projects.c.name, t.roles.c.name)
        )
        return [(u, p, r) for u, p, r in await self.conn.execute(query)]

    # application credentials
    async def add_app_cred(self, cred: ApplicationCredential) -> None:
        await self._insert(
            t.application_credentials,
            f"application credential {cred.name}",
            id=cred.id,
            name=cred.name,
            user_id=cred.user_id,
            project_id=cred.project_id,
            secret_hash=cred.secret_hash,
            roles=cred.roles,
            expires_at=cred.expires_at,
            description=cred.description,
        )

    async def find_app_cred(
        self, *, id: str | None = None, name: str | None = None, user_id: str | None = None
    ) -> ApplicationCredential | None:
        c = t.application_credentials.c
        query = sa.select(t.application_credentials)
        query = query.where(c.id == id) if id else query.where(c.name == name, c.user_id == user_id)
        row = (await self.conn.execute(query)).first()
        if not row:
            return None
        return ApplicationCredential(
            row.id,
            row.name,
            row.user_id,
            row.project_id,
            row.secret_hash,
            list(row.roles),
            row.expires_at,
            row.description,
        )

    async def list_app_creds(self, user_id: str | None = None) -> list[ApplicationCredential]:
        c = t.application_credentials.c
        query = sa.select(t.application_credentials).order_by(c.name)
        if user_id:
            query = query.where(c.user_id == user_id)
        return [
            ApplicationCredential(
                r.id,
                r.name,
                r.user_id,
                r.project_id,
                r.secret_hash,
                list(r.roles),
                r.expires_at,
                r.description,
            )
            for r in await self.conn.execute(query)
        ]

    async def delete_app_cred(self, cred_id: str) -> bool:
        result = await self.conn.execute(
            sa.delete(t.application_credentials).where(t.application_credentials.c.id == cred_id)
        )
        return bool(result.rowcount)

    # tokens
    async def add_token(self, **values: Any) -> None:
        await self.conn.execute(sa.insert(t.tokens).values(**values))

    async def get_token(self, id_hash: str) -> Any:
        return (
            await self.conn.execute(sa.select(t.tokens).where(t.tokens.c.id_hash == id_hash))
        ).first()

    async def revoke_token(self, id_hash: str) -> bool:
        result = await self.conn.execute(
            sa.update(t.tokens).where(t.tokens.c.id_hash == id_hash).values(revoked=True)
        )
        return bool(result.rowcount)

    async def purge_tokens(self, before: datetime) -> int:
        result = await self.conn.execute(sa.delete(t.tokens).where(t.tokens.c.expires_at < before))
        return result.rowcount or 0
