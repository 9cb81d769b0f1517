"""Identity queries: domains, projects, users, roles, assignments, application credentials."""

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
        row.id,
        row.name,
        row.domain_id,
        row.enabled,
        row.password_hash,
        row.default_project_id,
        row.description,
        row.email,
        row.failed_auth_count,
        row.failed_auth_at,
    )


def _project(row: Any) -> Project:
    return Project(row.id, row.name, row.domain_id, row.description, row.enabled)


def _role(row: Any) -> Role:
    return Role(row.id, row.name, row.description)


def _app_cred(row: Any) -> ApplicationCredential:
    return ApplicationCredential(
        row.id,
        row.name,
        row.user_id,
        row.project_id,
        row.secret_hash,
        list(row.roles),
        row.expires_at,
        row.description,
        row.unrestricted,
    )


def _named(table: sa.Table, **filters: Any) -> sa.Select[Any]:
    """Rows of ``table`` by name, with equality filters on the columns given (None: any)."""
    query = sa.select(table).order_by(table.c.name)
    for column, value in filters.items():
        if value is not None:
            query = query.where(table.c[column] == value)
    return query


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

    async def _update(self, table: sa.Table, what: str, key: str, **values: Any) -> bool:
        try:
            async with self.conn.begin_nested():
                result = await self.conn.execute(
                    sa.update(table).where(table.c.id == key).values(**values)
                )
        except IntegrityError:
            raise Conflict(f"{what} already exists") from None
        return bool(result.rowcount)

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

    async def list_projects(
        self,
        *,
        name: str | None = None,
        domain_id: str | None = None,
        enabled: bool | None = None,
        ids: list[str] | None = None,
    ) -> list[Project]:
        query = _named(t.projects, name=name, domain_id=domain_id, enabled=enabled)
        if ids is not None:
            query = query.where(t.projects.c.id.in_(ids))
        return [_project(r) for r in await self.conn.execute(query)]

    async def update_project(self, project_id: str, name: str, **values: Any) -> bool:
        return await self._update(t.projects, f"project {name}", project_id, name=name, **values)

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
            description=user.description,
            email=user.email,
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

    async def list_users(
        self,
        *,
        name: str | None = None,
        domain_id: str | None = None,
        enabled: bool | None = None,
    ) -> list[User]:
        query = _named(t.users, name=name, domain_id=domain_id, enabled=enabled)
        return [_user(r) for r in await self.conn.execute(query)]

    async def update_user(self, user_id: str, name: str, **values: Any) -> bool:
        return await self._update(t.users, f"user {name}", user_id, name=name, **values)

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self.conn.execute(
            sa.update(t.users)
            .where(t.users.c.id == user_id)
            .values(password_hash=password_hash, failed_auth_count=0, failed_auth_at=None)
        )

    async def delete_user(self, user_id: str) -> bool:
        result = await self.conn.execute(sa.delete(t.users).where(t.users.c.id == user_id))
        return bool(result.rowcount)

    async def record_failed_auth(self, user_id: str, at: datetime, reset: bool) -> None:
        """Count one failed authentication (Keystone's lockout counter); ``reset`` starts a new
        count when the previous lockout period is over."""
        c = t.users.c
        count = sa.literal(1) if reset else c.failed_auth_count + 1
        await self.conn.execute(
            sa.update(t.users)
            .where(c.id == user_id)
            .values(failed_auth_count=count, failed_auth_at=at)
        )

    async def clear_failed_auth(self, user_id: str) -> None:
        c = t.users.c
        await self.conn.execute(
            sa.update(t.users)
            .where(c.id == user_id, c.failed_auth_count != 0)
            .values(failed_auth_count=0, failed_auth_at=None)
        )

    # roles and assignments
    async def add_role(self, role: Role) -> None:
        await self._insert(
            t.roles, f"role {role.name}", id=role.id, name=role.name, description=role.description
        )

    async def find_role(self, name: str) -> Role | None:
        row = (await self.conn.execute(sa.select(t.roles).where(t.roles.c.name == name))).first()
        return _role(row) if row else None

    async def get_role(self, role_id: str) -> Role | None:
        row = (await self.conn.execute(sa.select(t.roles).where(t.roles.c.id == role_id))).first()
        return _role(row) if row else None

    async def list_roles(self, *, name: str | None = None) -> list[Role]:
        query = sa.select(t.roles).order_by(t.roles.c.name)
        if name is not None:
            query = query.where(t.roles.c.name == name)
        return [_role(r) for r in await self.conn.execute(query)]

    async def update_role(self, role_id: str, name: str, description: str) -> bool:
        return await self._update(
            t.roles, f"role {name}", role_id, name=name, description=description
        )

    async def delete_role(self, role_id: str) -> bool:
        result = await self.conn.execute(sa.delete(t.roles).where(t.roles.c.id == role_id))
        return bool(result.rowcount)

    async def assign(self, user_id: str, project_id: str, role_id: str) -> None:
        if not await self.has_assignment(user_id, project_id, role_id):
            await self.conn.execute(
                sa.insert(t.role_assignments).values(
                    user_id=user_id, project_id=project_id, role_id=role_id
                )
            )

    async def has_assignment(self, user_id: str, project_id: str, role_id: str) -> bool:
        ra = t.role_assignments.c
        row = (
            await self.conn.execute(
                sa.select(ra.user_id).where(
                    ra.user_id == user_id, ra.project_id == project_id, ra.role_id == role_id
                )
            )
        ).first()
        return row is not None

    async def unassign(self, user_id: str, project_id: str, role_id: str) -> bool:
        ra = t.role_assignments.c
        result = await self.conn.execute(
            sa.delete(t.role_assignments).where(
                ra.user_id == user_id, ra.project_id == project_id, ra.role_id == role_id
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

    async def user_projects(self, user_id: str) -> list[str]:
        ra = t.role_assignments.c
        query = sa.select(ra.project_id).where(ra.user_id == user_id).distinct()
        return list((await self.conn.execute(query)).scalars())

    async def list_assignments(
        self,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        role_id: str | None = None,
    ) -> list[dict[str, str]]:
        """Every (user, project, role) assignment matching the filters, with names."""
        ra = t.role_assignments.c
        query = (
            sa.select(
                ra.user_id,
                ra.project_id,
                ra.role_id,
                t.users.c.name.label("user_name"),
                t.users.c.domain_id.label("user_domain_id"),
                t.projects.c.name.label("project_name"),
                t.projects.c.domain_id.label("project_domain_id"),
                t.roles.c.name.label("role_name"),
            )
            .select_from(t.role_assignments)
            .join(t.users, t.users.c.id == ra.user_id)
            .join(t.projects, t.projects.c.id == ra.project_id)
            .join(t.roles, t.roles.c.id == ra.role_id)
            .order_by(t.users.c.name, t.projects.c.name, t.roles.c.name)
        )
        if user_id is not None:
            query = query.where(ra.user_id == user_id)
        if project_id is not None:
            query = query.where(ra.project_id == project_id)
        if role_id is not None:
            query = query.where(ra.role_id == role_id)
        return [dict(r._mapping) for r in await self.conn.execute(query)]

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
            unrestricted=cred.unrestricted,
        )

    async def find_app_cred(
        self, *, id: str | None = None, name: str | None = None, user_id: str | None = None
    ) -> ApplicationCredential | None:
        c = t.application_credentials.c
        query = sa.select(t.application_credentials)
        query = query.where(c.id == id) if id else query.where(c.name == name, c.user_id == user_id)
        row = (await self.conn.execute(query)).first()
        return _app_cred(row) if row else None

    async def list_app_creds(
        self, user_id: str | None = None, name: str | None = None
    ) -> list[ApplicationCredential]:
        c = t.application_credentials.c
        query = sa.select(t.application_credentials).order_by(c.name)
        if user_id:
            query = query.where(c.user_id == user_id)
        if name is not None:
            query = query.where(c.name == name)
        return [_app_cred(r) for r in await self.conn.execute(query)]

    async def delete_app_cred(self, cred_id: str) -> bool:
        result = await self.conn.execute(
            sa.delete(t.application_credentials).where(t.application_credentials.c.id == cred_id)
        )
        return bool(result.rowcount)
