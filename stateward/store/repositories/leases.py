"""Leases: compare-and-set rows that make a role a singleton across processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stateward.store.db import UnitOfWork
from stateward.store.tables.core import leases


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str | None
    expires_at: datetime
    generation: int


class LeaseRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def get(self, name: str) -> Lease | None:
        row = (await self.uow.conn.execute(sa.select(leases).where(leases.c.name == name))).first()
        return Lease(row.name, row.holder, row.expires_at, row.generation) if row else None

    async def try_acquire(self, name: str, holder: str, now: datetime, ttl: float) -> Lease | None:
        """Take or renew the lease if it is free, expired or already ours; None otherwise.

        The generation increases on every change of holder: it is the fencing token.
        """
        expires = now + timedelta(seconds=ttl)
        result = await self.uow.conn.execute(
            sa.update(leases)
            .where(
                leases.c.name == name,
                sa.or_(
                    leases.c.holder == holder,
                    leases.c.holder.is_(None),
                    leases.c.expires_at < now,
                ),
            )
            .values(
                expires_at=expires,
                generation=sa.case(
                    (leases.c.holder == holder, leases.c.generation),
                    else_=leases.c.generation + 1,
                ),
                holder=holder,
            )
        )
        if result.rowcount == 0:
            if await self.get(name) is not None:
                return None
            try:
                async with self.uow.conn.begin_nested():
                    await self.uow.conn.execute(
                        sa.insert(leases).values(
                            name=name, holder=holder, expires_at=expires, generation=1
                        )
                    )
            except IntegrityError:
                return None
        return await self.get(name)

    async def release(self, name: str, holder: str, now: datetime) -> None:
        await self.uow.conn.execute(
            sa.update(leases)
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(holder=None, expires_at=now)
        )
