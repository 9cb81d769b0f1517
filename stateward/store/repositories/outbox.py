"""Outbox rows: written by the unit of work, read and marked by the relay."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from stateward.domain.events import Envelope
from stateward.store.db import UnitOfWork
from stateward.store.tables.core import outbox


class OutboxRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def unsent(self, *, created_before: datetime, limit: int) -> list[tuple[int, Envelope]]:
        """The oldest unsent rows; rows another process is relaying are skipped on PostgreSQL."""
        query = (
            sa.select(outbox.c.id, outbox.c.envelope)
            .where(outbox.c.sent_at.is_(None), outbox.c.created_at < created_before)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        if self.uow.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = (await self.uow.conn.execute(query)).all()
        return [(row.id, Envelope.from_dict(row.envelope)) for row in rows]

    async def mark_sent(self, ids: list[int], when: datetime) -> None:
        if ids:
            await self.uow.conn.execute(
                sa.update(outbox).where(outbox.c.id.in_(ids)).values(sent_at=when)
            )

    async def purge_sent(self, before: datetime) -> int:
        result = await self.uow.conn.execute(
            sa.delete(outbox).where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < before)
        )
        return result.rowcount or 0

    async def count_unsent(self) -> int:
        query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        return int((await self.uow.conn.execute(query)).scalar_one())
