"""Profiles rows <-> ``stateward.profiler.model.Profile``.

Recording is idempotent: the earliest time stored for a trace's checkpoint is kept (INSERT ... ON
CONFLICT DO UPDATE ... WHERE the new time is earlier, on both backends), so a retried handler or a
re-imported log never moves a checkpoint later, and when several processes stamp the same
checkpoint (two evaluators firing alarms of one fault) the profile has the earliest whichever
recorder wrote first — as ``import-log`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from stateward.domain.events import utcnow
from stateward.profiler.model import Profile
from stateward.store.db import UnitOfWork
from stateward.store.tables.profiles import profile_checkpoints as cp
from stateward.store.tables.profiles import profiles as pt


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    trace_id: str
    name: str
    t: float
    process: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class ProfileRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    def _insert(self, table: sa.Table) -> Any:
        if self.uow.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    async def record(
        self, rows: Sequence[CheckpointRow], meta: dict[str, dict[str, Any]] | None = None
    ) -> set[tuple[str, str]]:
        """Store checkpoints (the earliest wins); returns the (trace, name) pairs stored now."""
        if not rows:
            return set()
        now = utcnow()
        traces = sorted({r.trace_id for r in rows})
        await self.conn.execute(
            self._insert(pt),
            [
                {"trace_id": trace, "created_at": now, "meta": (meta or {}).get(trace, {})}
                for trace in traces
            ],
        )
        # Earliest first within the batch, so the first stamp wins inside a batch too.
        ordered = sorted(rows, key=lambda r: r.t)
        unique: dict[tuple[str, str], CheckpointRow] = {}
        for row in ordered:
            unique.setdefault((row.trace_id, row.name), row)
        # RETURNING names only the rows this statement inserted or moved earlier: exact even
        # when another process records the same checkpoint concurrently.
        insert = (postgresql.insert if self.uow.dialect == "postgresql" else sqlite.insert)(cp)
        earliest = insert.on_conflict_do_update(
            index_elements=[cp.c.trace_id, cp.c.name],
            set_={
                "epoch": insert.excluded.epoch,
                "at": insert.excluded.at,
                "process": insert.excluded.process,
                "meta": insert.excluded.meta,
            },
            where=insert.excluded.epoch < cp.c.epoch,
        )
        result = await self.conn.execute(
            earliest.returning(cp.c.trace_id, cp.c.name),
            [
                {
                    "trace_id": r.trace_id,
                    "name": r.name,
                    "epoch": r.t,
                    "at": datetime.fromtimestamp(r.t, UTC),
                    "process": r.process[:255],
                    "meta": r.meta,
                }
                for r in unique.values()
            ],
        )
        return {(row.trace_id, row.name) for row in result}

    async def get(self, trace_id: str) -> Profile | None:
        found = await self.load([trace_id])
        return found[0] if found else None

    async def load(self, trace_ids: Iterable[str]) -> list[Profile]:
        """Profiles for these traces, in the order given (unknown ids are left out)."""
        ids = list(trace_ids)
        if not ids:
            return []
        heads = {
            r.trace_id: r
            for r in await self.conn.execute(sa.select(pt).where(pt.c.trace_id.in_(ids)))
        }
        profiles = {
            tid: Profile(tid, meta=dict(heads[tid].meta or {})) for tid in ids if tid in heads
        }
        rows = await self.conn.execute(
            sa.select(cp).where(cp.c.trace_id.in_(list(profiles))).order_by(cp.c.epoch)
        )
        for row in rows:
            meta = dict(row.meta or {})
            if row.process:
                meta.setdefault("process", row.process)
            profiles[row.trace_id].add(row.name, row.epoch, **meta)
        return [profiles[tid] for tid in ids if tid in profiles]

    async def list_ids(self, *, limit: int, marker: str | None = None) -> list[str]:
        """Trace ids, newest first; ``marker`` pages after that trace."""
        query = sa.select(pt.c.trace_id).order_by(pt.c.created_at.desc(), pt.c.trace_id.desc())
        if marker is not None:
            anchor = (
                await self.conn.execute(sa.select(pt.c.created_at).where(pt.c.trace_id == marker))
            ).scalar_one_or_none()
            if anchor is not None:
                query = query.where(
                    sa.or_(
                        pt.c.created_at < anchor,
                        sa.and_(pt.c.created_at == anchor, pt.c.trace_id < marker),
                    )
                )
        return list((await self.conn.execute(query.limit(limit))).scalars())

    async def delete(self, trace_id: str) -> bool:
        await self.conn.execute(sa.delete(cp).where(cp.c.trace_id == trace_id))
        result = await self.conn.execute(sa.delete(pt).where(pt.c.trace_id == trace_id))
        return bool(result.rowcount)

    async def purge_before(self, before: datetime) -> int:
        old = sa.select(pt.c.trace_id).where(pt.c.created_at < before)
        await self.conn.execute(sa.delete(cp).where(cp.c.trace_id.in_(old)))
        result = await self.conn.execute(sa.delete(pt).where(pt.c.created_at < before))
        return result.rowcount or 0
