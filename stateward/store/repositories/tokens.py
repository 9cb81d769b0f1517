"""Token rows (stored by digest), their revocation, and failed-authentication counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stateward.store.db import UnitOfWork
from stateward.store.tables import identity as t


class TokenRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.conn = uow.conn

    async def add(self, **values: Any) -> None:
        await self.conn.execute(sa.insert(t.tokens).values(**values))

    async def get(self, id_hash: str) -> Any:
        return (
            await self.conn.execute(sa.select(t.tokens).where(t.tokens.c.id_hash == id_hash))
        ).first()

    async def revoke(self, id_hash: str) -> bool:
        result = await self.conn.execute(
            sa.update(t.tokens).where(t.tokens.c.id_hash == id_hash).values(revoked=True)
        )
        return bool(result.rowcount)

    async def revoke_descendants(self, audit_id: str, chain_id: str) -> int:
        """Revoke every token obtained, directly or not, from the token ``audit_id`` (its
        children carry its id as parent; all of them carry the chain's first id)."""
        c = t.tokens.c
        rows = (
            await self.conn.execute(
                sa.select(c.audit_id, c.parent_audit_id).where(c.audit_chain_id == chain_id)
            )
        ).all()
        children: dict[str, list[str]] = {}
        for row in rows:
            if row.parent_audit_id:
                children.setdefault(row.parent_audit_id, []).append(row.audit_id)
        doomed: list[str] = []
        stack = list(children.get(audit_id, []))
        while stack:
            current = stack.pop()
            doomed.append(current)
            stack.extend(children.get(current, []))
        if not doomed:
            return 0
        result = await self.conn.execute(
            sa.update(t.tokens)
            .where(c.audit_id.in_(doomed), c.revoked.is_(False))
            .values(revoked=True)
        )
        return result.rowcount or 0

    async def revoke_where(
        self,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        app_cred_id: str | None = None,
    ) -> int:
        """Revoke the live tokens of a user (on a project), or of an application credential."""
        c = t.tokens.c
        query = sa.update(t.tokens).where(c.revoked.is_(False)).values(revoked=True)
        if user_id is not None:
            query = query.where(c.user_id == user_id)
        if project_id is not None:
            query = query.where(c.project_id == project_id)
        if app_cred_id is not None:
            query = query.where(c.app_cred_id == app_cred_id)
        result = await self.conn.execute(query)
        return result.rowcount or 0

    async def purge(self, before: datetime) -> int:
        result = await self.conn.execute(sa.delete(t.tokens).where(t.tokens.c.expires_at < before))
        return result.rowcount or 0

    # failed authentications per client address
    async def address_failures(self, address: str) -> tuple[int, datetime] | None:
        row = (
            await self.conn.execute(
                sa.select(t.auth_failures).where(t.auth_failures.c.address == address)
            )
        ).first()
        return (int(row._mapping["count"]), row.window_start) if row else None

    async def count_address_failure(
        self, address: str, now: datetime, window_start: datetime
    ) -> None:
        """One more failure from ``address``; a window that started before ``window_start``
        is over and starts again now."""
        c = t.auth_failures.c
        result = await self.conn.execute(
            sa.update(t.auth_failures)
            .where(c.address == address)
            .values(
                count=sa.case((c.window_start < window_start, 1), else_=c.count + 1),
                window_start=sa.case((c.window_start < window_start, now), else_=c.window_start),
            )
        )
        if result.rowcount:
            return
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    sa.insert(t.auth_failures).values(address=address, count=1, window_start=now)
                )
        except IntegrityError:  # another process inserted it first
            await self.conn.execute(
                sa.update(t.auth_failures).where(c.address == address).values(count=c.count + 1)
            )

    async def purge_address_failures(self, before: datetime) -> None:
        await self.conn.execute(
            sa.delete(t.auth_failures).where(t.auth_failures.c.window_start < before)
        )
