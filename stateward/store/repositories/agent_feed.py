"""Agent feed rows: per-chassis heads and logs, interest, and the objects' last forms."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from stateward.domain.agent_feed import Change
from stateward.store.db import UnitOfWork
from stateward.store.tables.agent_feed import feed_changes, feed_heads, feed_interest, feed_objects

ADVISORY_NAMESPACE = 7420700  # pg_advisory_xact_lock(namespace, 0): the feed's writer lock

Entry = tuple[str, str, str, dict[str, Any] | None]  # kind, key, op, data


def new_epoch() -> str:
    return uuid.uuid4().hex


class AgentFeedRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    def _insert(self, table: sa.Table) -> Any:
        if self.uow.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def lock(self) -> None:
        """Serialise feed writers until commit (PostgreSQL; SQLite has one writer anyway).

        One lock for every chassis: routing a change needs a consistent view of who holds
        what, and a network change's commit phase is short next to the use case itself.
        """
        if self.uow.dialect == "postgresql":
            await self.conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": ADVISORY_NAMESPACE}
            )

    async def repeatable_read(self) -> None:
        """Make the rest of this (read-only, just begun) transaction one consistent snapshot.

        PostgreSQL's default READ COMMITTED gives each statement its own snapshot; a feed
        snapshot reads several tables and the head, which must agree. SQLite's read
        transactions already see one snapshot.
        """
        if self.uow.dialect == "postgresql":
            await self.conn.execute(
                sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            )

    # object forms --------------------------------------------------------------------------
    async def forms(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(keys))
        found: dict[str, dict[str, Any]] = {}
        c = feed_objects.c
        for i in range(0, len(wanted), 1000):
            rows = await self.conn.execute(
                sa.select(c.key, c.data).where(c.kind == kind, c.key.in_(wanted[i : i + 1000]))
            )
            found.update({r.key: dict(r.data) for r in rows})
        return found

    async def save_forms(self, kind: str, forms: dict[str, dict[str, Any] | None]) -> None:
        c = feed_objects.c
        gone = [k for k, v in forms.items() if v is None]
        kept = [{"kind": kind, "key": k, "data": v} for k, v in forms.items() if v is not None]
        if gone:
            await self.conn.execute(sa.delete(feed_objects).where(c.kind == kind, c.key.in_(gone)))
        if kept:
            insert = self._insert(feed_objects)
            await self.conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["kind", "key"], set_={"data": insert.excluded.data}
                ),
                kept,
            )

    # interest ------------------------------------------------------------------------------
    async def subscribers(self, view: str, scopes: Iterable[str]) -> dict[str, set[str]]:
        """scope -> chassis holding it."""
        wanted = sorted(set(scopes))
        out: dict[str, set[str]] = defaultdict(set)
        c = feed_interest.c
        for i in range(0, len(wanted), 1000):
            rows = await self.conn.execute(
                sa.select(c.scope, c.chassis).where(
                    c.view == view, c.scope.in_(wanted[i : i + 1000])
                )
            )
            for scope, chassis in rows:
                out[scope].add(chassis)
        return out

    async def scopes(self, chassis: str, view: str, prefix: str = "") -> set[str]:
        c = feed_interest.c
        query = sa.select(c.scope).where(c.chassis == chassis, c.view == view)
        if prefix:
            query = query.where(c.scope.startswith(prefix, autoescape=True))
        return set((await self.conn.execute(query)).scalars())

    async def add_interest(self, chassis: str, view: str, scopes: Iterable[str]) -> None:
        rows = [{"chassis": chassis, "view": view, "scope": s} for s in sorted(set(scopes))]
        if rows:
            await self.conn.execute(self._insert(feed_interest).on_conflict_do_nothing(), rows)

    async def remove_interest(self, chassis: str, view: str, scopes: Iterable[str]) -> None:
        wanted = sorted(set(scopes))
        c = feed_interest.c
        for i in range(0, len(wanted), 1000):
            await self.conn.execute(
                sa.delete(feed_interest).where(
                    c.chassis == chassis, c.view == view, c.scope.in_(wanted[i : i + 1000])
                )
            )

    # heads and logs ------------------------------------------------------------------------
    async def head(self, chassis: str) -> tuple[str, int] | None:
        c = feed_heads.c
        row = (
            await self.conn.execute(sa.select(c.epoch, c.seq).where(c.chassis == chassis))
        ).first()
        return (row.epoch, int(row.seq)) if row else None

    async def ensure_head(self, chassis: str, now: datetime) -> tuple[str, int]:
        await self.conn.execute(
            self._insert(feed_heads).on_conflict_do_nothing(),
            {"chassis": chassis, "epoch": new_epoch(), "seq": 0, "updated_at": now},
        )
        head = await self.head(chassis)
        assert head is not None
        return head

    async def append(
        self, chassis: str, entries: Sequence[Entry], now: datetime
    ) -> tuple[str, int, int]:
        """Number ``entries`` after the chassis' head and store them; (epoch, first, last)."""
        c = feed_heads.c
        row = (
            await self.conn.execute(
                sa.update(feed_heads)
                .where(c.chassis == chassis)
                .values(seq=c.seq + len(entries), updated_at=now)
                .returning(c.epoch, c.seq)
            )
        ).first()
        if row is None:
            epoch, last = new_epoch(), len(entries)
            await self.conn.execute(
                sa.insert(feed_heads).values(chassis=chassis, epoch=epoch, seq=last, updated_at=now)
            )
        else:
            epoch, last = row.epoch, int(row.seq)
        first = last - len(entries) + 1
        await self.conn.execute(
            sa.insert(feed_changes),
            [
                {
                    "chassis": chassis,
                    "seq": first + i,
                    "kind": kind,
                    "key": key,
                    "op": op,
                    "data": data,
                    "created_at": now,
                }
                for i, (kind, key, op, data) in enumerate(entries)
            ],
        )
        return epoch, first, last

    async def since(self, chassis: str, seq: int, limit: int) -> list[Change]:
        c = feed_changes.c
        rows = await self.conn.execute(
            sa.select(c.seq, c.kind, c.key, c.op, c.data)
            .where(c.chassis == chassis, c.seq > seq)
            .order_by(c.seq)
            .limit(limit)
        )
        return [
            Change(int(r.seq), r.kind, r.key, r.op, dict(r.data) if r.data is not None else None)
            for r in rows
        ]

    async def oldest(self, chassis: str) -> int | None:
        """The lowest sequence number still kept for the chassis (None when none is)."""
        c = feed_changes.c
        value = (
            await self.conn.execute(sa.select(sa.func.min(c.seq)).where(c.chassis == chassis))
        ).scalar()
        return int(value) if value is not None else None

    async def drop(self, chassis: str) -> None:
        """Forget a chassis' feed entirely (it was deleted): a new one gets a new epoch."""
        for table in (feed_changes, feed_interest, feed_heads):
            await self.conn.execute(sa.delete(table).where(table.c.chassis == chassis))

    async def prune(self, before: datetime, limit: int = 10_000) -> int:
        """Delete up to ``limit`` log entries older than ``before``; returns how many."""
        c = feed_changes.c
        victims = sa.select(c.chassis, c.seq).where(c.created_at < before).limit(limit).subquery()
        result = await self.conn.execute(
            sa.delete(feed_changes).where(
                sa.tuple_(c.chassis, c.seq).in_(sa.select(victims.c.chassis, victims.c.seq))
            )
        )
        return int(result.rowcount or 0)
