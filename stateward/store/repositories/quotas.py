"""Quota rows: limits per project, user and class, and the per-(project, resource) lock rows.

``lock`` is one statement that takes the row lock on PostgreSQL (an upsert bumping a counter),
so a transaction that counts usage after it cannot interleave with another one that counts the
same project's resource. On SQLite the single writer already serialises transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stateward.store.db import UnitOfWork
from stateward.store.tables import quotas as t

L = t.quota_limits.c
C = t.quota_class_limits.c
K = t.quota_locks.c


class QuotaRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    def _insert(self, table: sa.Table) -> Any:
        return pg_insert(table) if self.uow.dialect == "postgresql" else sqlite_insert(table)

    # limits --------------------------------------------------------------------------------
    async def limits(self, project_id: str, user_id: str = "") -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(L.resource, L.hard_limit).where(
                L.project_id == project_id, L.user_id == user_id
            )
        )
        return {r[0]: r[1] for r in rows}

    async def applicable(
        self, project_id: str, user_id: str | None, resources: Iterable[str], class_name: str
    ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """(project's own, the user's own, the class's) limits for ``resources``, one query."""
        names = list(resources)
        owners = [""] if user_id is None else ["", user_id]
        own = sa.select(L.user_id, L.resource, L.hard_limit).where(
            L.project_id == project_id, L.user_id.in_(owners), L.resource.in_(names)
        )
        klass = sa.select(sa.literal("*class*").label("user_id"), C.resource, C.hard_limit).where(
            C.class_name == class_name, C.resource.in_(names)
        )
        project: dict[str, int] = {}
        user: dict[str, int] = {}
        classes: dict[str, int] = {}
        for owner, resource, limit in await self.conn.execute(sa.union_all(own, klass)):
            {"": project, "*class*": classes}.get(owner, user)[resource] = limit
        return project, user, classes

    async def projects_with_limits(self) -> dict[str, dict[str, int]]:
        """Every project's own (project-level) limits: Neutron's ``GET /quotas``."""
        rows = await self.conn.execute(
            sa.select(L.project_id, L.resource, L.hard_limit).where(L.user_id == "")
        )
        out: dict[str, dict[str, int]] = {}
        for project_id, resource, limit in rows:
            out.setdefault(project_id, {})[resource] = limit
        return out

    async def set_limits(self, project_id: str, values: dict[str, int], user_id: str = "") -> None:
        for resource, limit in values.items():
            statement = self._insert(t.quota_limits).values(
                project_id=project_id, user_id=user_id, resource=resource, hard_limit=limit
            )
            await self.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[L.project_id, L.user_id, L.resource],
                    set_={"hard_limit": limit},
                )
            )

    async def delete_limits(
        self, project_id: str, user_id: str | None = None, resources: Iterable[str] | None = None
    ) -> None:
        """Back to defaults: the project's own limits and its users' (``user_id`` None), or
        one user's."""
        query = sa.delete(t.quota_limits).where(L.project_id == project_id)
        if user_id is not None:
            query = query.where(L.user_id == user_id)
        if resources is not None:
            query = query.where(L.resource.in_(list(resources)))
        await self.conn.execute(query)

    async def class_limits(self, class_name: str) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(C.resource, C.hard_limit).where(C.class_name == class_name)
        )
        return {r[0]: r[1] for r in rows}

    async def set_class_limits(self, class_name: str, values: dict[str, int]) -> None:
        for resource, limit in values.items():
            statement = self._insert(t.quota_class_limits).values(
                class_name=class_name, resource=resource, hard_limit=limit
            )
            await self.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[C.class_name, C.resource], set_={"hard_limit": limit}
                )
            )

    # counting --------------------------------------------------------------------------------
    async def lock(self, project_id: str, resources: Iterable[str]) -> None:
        """Row-lock (project, resource) for the rest of the transaction, in a fixed order.

        On SQLite a writing transaction already holds the database's write lock
        (``BEGIN IMMEDIATE``), which serialises every writer in every process: nothing to do.
        """
        if self.uow.dialect == "sqlite":
            return
        for resource in sorted(set(resources)):
            statement = self._insert(t.quota_locks).values(
                project_id=project_id, resource=resource, generation=1
            )
            await self.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[K.project_id, K.resource],
                    set_={"generation": K.generation + 1},
                )
            )


async def count_rows(
    uow: UnitOfWork,
    table: sa.Table,
    project_id: str,
    *,
    user_id: str | None = None,
    where: sa.ColumnElement[bool] | None = None,
    total: sa.ColumnElement[int] | None = None,
) -> int:
    """``count(*)`` (or ``sum(total)``) of a project's (or a user's) rows of ``table``."""
    column = sa.func.coalesce(sa.func.sum(total), 0) if total is not None else sa.func.count()
    query = sa.select(column).select_from(table).where(table.c.project_id == project_id)
    if user_id is not None:
        query = query.where(table.c.user_id == user_id)
    if where is not None:
        query = query.where(where)
    return int((await uow.conn.execute(query)).scalar_one())
