"""Journal rows <-> JournalEntry; recording with dependencies, claiming, state transitions."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stateward.domain import journal as rules
from stateward.domain.journal import JournalEntry, Operation, RowState
from stateward.store.db import UnitOfWork
from stateward.store.tables.journal import journal, journal_deps, journal_refs, journal_status

ADVISORY_NAMESPACE = 7420600  # pg_advisory_xact_lock(namespace, key) for per-object ordering


def _entry(row: Any) -> JournalEntry:
    return JournalEntry(
        seqnum=row.seqnum,
        object_type=row.object_type,
        object_uuid=row.object_uuid,
        operation=Operation(row.operation),
        data=dict(row.data or {}),
        state=RowState(row.state),
        retry_count=row.retry_count,
        last_retried=row.last_retried,
        version_id=row.version_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _lock_key(object_uuid: str) -> int:
    return int.from_bytes(hashlib.blake2b(object_uuid.encode(), digest_size=4).digest(), "big") - (
        1 << 31
    )


class JournalRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    # recording ----------------------------------------------------------------------------
    async def lock_objects(self, uuids: Iterable[str]) -> None:
        """PostgreSQL: serialise journal writes per object until commit, so one object's
        seqnums follow its commit order across processes (SQLite has one writer anyway)."""
        if self.uow.dialect != "postgresql":
            return
        for key in sorted({_lock_key(u) for u in uuids}):
            await self.conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": ADVISORY_NAMESPACE, "key": key},
            )

    async def record(
        self,
        object_type: str,
        object_uuid: str,
        operation: Operation,
        data: dict[str, Any],
        now: datetime,
    ) -> int:
        """Add one pending row and its dependency edges (networking-odl's rules)."""
        seqnum = (
            await self.conn.execute(
                sa.insert(journal)
                .values(
                    object_type=object_type,
                    object_uuid=object_uuid,
                    operation=str(operation),
                    data=data,
                    state=str(RowState.PENDING),
                    retry_count=0,
                    version_id=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(journal.c.seqnum)
            )
        ).scalar_one()
        refs = rules.parent_refs(object_type, data)
        if refs:
            await self.conn.execute(
                sa.insert(journal_refs), [{"seqnum": seqnum, "ref_uuid": r} for r in refs]
            )
        not_done = journal.c.state != str(RowState.COMPLETED)
        if operation is Operation.DELETE:
            children = rules.CHILD_TYPES.get(object_type, ())
            query = (
                sa.select(journal.c.seqnum)
                .join(journal_refs, journal_refs.c.seqnum == journal.c.seqnum)
                .where(
                    journal_refs.c.ref_uuid == object_uuid,
                    journal.c.operation == str(Operation.DELETE),
                    journal.c.object_type.in_(children),
                    journal.c.seqnum < seqnum,
                    not_done,
                )
            )
        elif refs:
            query = sa.select(journal.c.seqnum).where(
                journal.c.object_uuid.in_(refs),
                journal.c.operation.in_([str(Operation.CREATE), str(Operation.UPDATE)]),
                journal.c.seqnum < seqnum,
                not_done,
            )
        else:
            return seqnum
        deps = sorted(set((await self.conn.execute(query)).scalars().all()))
        if deps:
            await self.conn.execute(
                sa.insert(journal_deps), [{"dependent": seqnum, "depends_on": d} for d in deps]
            )
        return seqnum

    # syncing ------------------------------------------------------------------------------
    def _eligible(self) -> sa.Select[Any]:
        """Pending rows with no earlier unfinished row of the same object and no unfinished
        dependency: at most one row per object is ever eligible, so per-object order holds
        whichever process picks it."""
        earlier = journal.alias("earlier")
        dep_row = journal.alias("dep_row")
        same_object_first = sa.exists().where(
            earlier.c.object_uuid == journal.c.object_uuid,
            earlier.c.seqnum < journal.c.seqnum,
            earlier.c.state != str(RowState.COMPLETED),
        )
        blocked = sa.exists().where(
            journal_deps.c.dependent == journal.c.seqnum,
            dep_row.c.seqnum == journal_deps.c.depends_on,
            dep_row.c.state != str(RowState.COMPLETED),
        )
        return sa.select(journal).where(
            journal.c.state == str(RowState.PENDING), ~same_object_first, ~blocked
        )

    async def claim(self, limit: int, now: datetime) -> list[JournalEntry]:
        """Take up to ``limit`` eligible rows, oldest first, into PROCESSING.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets several processes claim at once without
        waiting on each other; the compare-and-set on ``state`` and ``version_id`` makes a
        claim happen once on every backend.
        """
        query = self._eligible().order_by(journal.c.seqnum).limit(limit)
        if self.uow.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=journal)
        rows = (await self.conn.execute(query)).all()
        if not rows:
            return []
        result = await self.conn.execute(
            sa.update(journal)
            .where(
                journal.c.seqnum.in_([r.seqnum for r in rows]),
                journal.c.state == str(RowState.PENDING),
            )
            .values(
                state=str(RowState.PROCESSING),
                version_id=journal.c.version_id + 1,
                last_retried=now,
                updated_at=now,
            )
            .returning(journal.c.seqnum, journal.c.version_id)
        )
        versions: dict[int, int] = dict(result.tuples().all())
        claimed: list[JournalEntry] = []
        for row in rows:
            if row.seqnum in versions:
                entry = _entry(row)
                claimed.append(
                    dataclasses.replace(
                        entry,
                        state=RowState.PROCESSING,
                        version_id=versions[row.seqnum],
                        last_retried=now,
                    )
                )
        return claimed

    async def oldest_pending(self) -> JournalEntry | None:
        """The baseline's picker: the oldest pending row, nothing else considered."""
        row = (
            await self.conn.execute(
                sa.select(journal)
                .where(journal.c.state == str(RowState.PENDING))
                .order_by(journal.c.seqnum)
                .limit(1)
            )
        ).first()
        return _entry(row) if row else None

    async def finish(
        self, entry: JournalEntry, state: RowState, retry_count: int, now: datetime
    ) -> bool:
        """PROCESSING -> ``state``, only if nobody reset and re-claimed the row meanwhile."""
        result = await self.conn.execute(
            sa.update(journal)
            .where(
                journal.c.seqnum == entry.seqnum,
                journal.c.version_id == entry.version_id,
                journal.c.state == str(RowState.PROCESSING),
            )
            .values(
                state=str(state),
                retry_count=retry_count,
                version_id=entry.version_id + 1,
                updated_at=now,
            )
        )
        return result.rowcount == 1

    async def finish_many(
        self, updates: Sequence[tuple[JournalEntry, RowState, int]], now: datetime
    ) -> int:
        """``finish`` for many rows in one statement; returns how many were not fenced off
        (exact where the driver reports executemany row counts)."""
        if not updates:
            return 0
        statement = (
            sa.update(journal)
            .where(
                journal.c.seqnum == sa.bindparam("b_seqnum"),
                journal.c.version_id == sa.bindparam("b_version"),
                journal.c.state == str(RowState.PROCESSING),
            )
            .values(
                state=sa.bindparam("b_state"),
                retry_count=sa.bindparam("b_retries"),
                version_id=sa.bindparam("b_new_version"),
                updated_at=now,
            )
        )
        params = [
            {
                "b_seqnum": entry.seqnum,
                "b_version": entry.version_id,
                "b_state": str(state),
                "b_retries": retries,
                "b_new_version": entry.version_id + 1,
            }
            for entry, state, retries in updates
        ]
        result = await self.conn.execute(statement, params)
        if self.conn.dialect.supports_sane_multi_rowcount and result.rowcount >= 0:
            return int(result.rowcount)
        return len(updates)

    # operators and maintenance -------------------------------------------------------------
    async def get(self, seqnum: int) -> JournalEntry | None:
        row = (
            await self.conn.execute(sa.select(journal).where(journal.c.seqnum == seqnum))
        ).first()
        return _entry(row) if row else None

    async def dependencies(self, seqnum: int) -> list[int]:
        rows = await self.conn.execute(
            sa.select(journal_deps.c.depends_on)
            .where(journal_deps.c.dependent == seqnum)
            .order_by(journal_deps.c.depends_on)
        )
        return list(rows.scalars().all())

    async def list_rows(
        self,
        *,
        state: RowState | None = None,
        object_uuid: str | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> list[JournalEntry]:
        query = sa.select(journal).order_by(journal.c.seqnum).limit(limit)
        if state is not None:
            query = query.where(journal.c.state == str(state))
        if object_uuid is not None:
            query = query.where(journal.c.object_uuid == object_uuid)
        if after is not None:
            query = query.where(journal.c.seqnum > after)
        return [_entry(r) for r in (await self.conn.execute(query)).all()]

    async def counts(self) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(journal.c.state, sa.func.count()).group_by(journal.c.state)
        )
        counts = {str(s): 0 for s in RowState}
        counts.update({state: n for state, n in rows.all()})
        return counts

    async def set_state(
        self,
        seqnum: int,
        state: RowState,
        *,
        expected: Sequence[RowState],
        now: datetime,
        reset_retries: bool = False,
    ) -> bool:
        values: dict[str, Any] = {
            "state": str(state),
            "version_id": journal.c.version_id + 1,
            "updated_at": now,
        }
        if reset_retries:
            values["retry_count"] = 0
        result = await self.conn.execute(
            sa.update(journal)
            .where(journal.c.seqnum == seqnum, journal.c.state.in_([str(s) for s in expected]))
            .values(**values)
        )
        return result.rowcount == 1

    async def set_operation(self, seqnum: int, operation: Operation) -> None:
        await self.conn.execute(
            sa.update(journal).where(journal.c.seqnum == seqnum).values(operation=str(operation))
        )

    async def reset_stuck(self, started_before: datetime, now: datetime) -> list[int]:
        """PROCESSING rows older than the processing timeout go back to PENDING (their worker
        died or hung; bumping the version fences its late answer off)."""
        rows = await self.conn.execute(
            sa.update(journal)
            .where(
                journal.c.state == str(RowState.PROCESSING),
                journal.c.last_retried < started_before,
            )
            .values(
                state=str(RowState.PENDING), version_id=journal.c.version_id + 1, updated_at=now
            )
            .returning(journal.c.seqnum)
        )
        return list(rows.scalars().all())

    async def delete_completed(self, before: datetime) -> int:
        result = await self.conn.execute(
            sa.delete(journal).where(
                journal.c.state == str(RowState.COMPLETED), journal.c.updated_at < before
            )
        )
        return int(result.rowcount or 0)

    async def busy_objects(self, since: datetime) -> set[str]:
        """Objects with a row in flight, or synced since ``since`` (full sync leaves them be)."""
        rows = await self.conn.execute(
            sa.select(journal.c.object_uuid)
            .where(
                sa.or_(
                    journal.c.state != str(RowState.COMPLETED),
                    journal.c.updated_at >= since,
                )
            )
            .distinct()
        )
        return set(rows.scalars().all())

    # shared status --------------------------------------------------------------------------
    async def get_status(self, name: str) -> tuple[str, datetime, dict[str, Any]] | None:
        row = (
            await self.conn.execute(sa.select(journal_status).where(journal_status.c.name == name))
        ).first()
        return (row.state, row.updated_at, dict(row.detail or {})) if row else None

    async def statuses(self, prefix: str) -> list[tuple[str, str, datetime, dict[str, Any]]]:
        rows = await self.conn.execute(
            sa.select(journal_status)
            .where(journal_status.c.name.startswith(prefix))
            .order_by(journal_status.c.name)
        )
        return [(r.name, r.state, r.updated_at, dict(r.detail or {})) for r in rows.all()]

    async def put_status(
        self, name: str, state: str, detail: dict[str, Any], now: datetime
    ) -> None:
        result = await self.conn.execute(
            sa.update(journal_status)
            .where(journal_status.c.name == name)
            .values(state=state, detail=detail, updated_at=now)
        )
        if result.rowcount == 0:
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(
                        sa.insert(journal_status).values(
                            name=name, state=state, detail=detail, updated_at=now
                        )
                    )
            except IntegrityError:  # another process inserted it first: ours is newer
                await self.conn.execute(
                    sa.update(journal_status)
                    .where(journal_status.c.name == name)
                    .values(state=state, detail=detail, updated_at=now)
                )

    async def delete_statuses(self, prefix: str, before: datetime) -> None:
        await self.conn.execute(
            sa.delete(journal_status).where(
                journal_status.c.name.startswith(prefix), journal_status.c.updated_at < before
            )
        )
