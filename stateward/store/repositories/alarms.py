"""Alarm rows <-> domain alarms, the compare-and-set that fires alarms once, and history."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stateward.domain.alarm import ALARM, Alarm, EventRule, QueryItem
from stateward.store.db import UnitOfWork
from stateward.store.tables.alarms import alarm_fires as f
from stateward.store.tables.alarms import alarm_history as h
from stateward.store.tables.alarms import alarms as t


@dataclass(frozen=True, slots=True)
class FireAttempt:
    """One alarm to move to ``alarm`` because of one event, as the evaluator saw it."""

    alarm_id: str
    generation: int
    expected: str  # the state the evaluator believes the alarm is in
    reason: str
    message_id: str  # the event's


@dataclass(slots=True)
class FireResult:
    """``won``: moved to ``alarm`` by this batch; ``duplicate``: that event already fired that
    alarm (a redelivery); the rest lost the compare-and-set."""

    won: set[str] = field(default_factory=set)
    duplicate: set[str] = field(default_factory=set)


def _event_key(message_id: str) -> str:
    """Message ids come from clients too: at most 64 characters are stored (a digest if longer)."""
    if len(message_id) <= 64:
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()


def _rule(data: dict[str, Any]) -> EventRule:
    return EventRule(
        event_type=data.get("event_type") or "*",
        query=tuple(
            QueryItem(
                field=q["field"], op=q.get("op") or "eq", value=q["value"], type=q.get("type") or ""
            )
            for q in data.get("query") or []
        ),
    )


def row_to_alarm(row: Any) -> Alarm:
    return Alarm(
        alarm_id=row.alarm_id,
        name=row.name,
        project_id=row.project_id,
        user_id=row.user_id,
        rule=_rule(row.rule),
        description=row.description,
        type=row.type,
        enabled=row.enabled,
        severity=row.severity,
        state=row.state,
        state_reason=row.state_reason,
        state_timestamp=row.state_timestamp,
        timestamp=row.timestamp,
        alarm_actions=tuple(row.alarm_actions),
        ok_actions=tuple(row.ok_actions),
        insufficient_data_actions=tuple(row.insufficient_data_actions),
        repeat_actions=row.repeat_actions,
        time_constraints=tuple(row.time_constraints),
        resource_id=row.resource_id,
        admin=row.admin,
        generation=row.generation,
    )


def alarm_values(a: Alarm) -> dict[str, Any]:
    return dict(
        alarm_id=a.alarm_id,
        name=a.name,
        project_id=a.project_id,
        user_id=a.user_id,
        rule=a.rule.as_dict(),
        description=a.description,
        type=a.type,
        enabled=a.enabled,
        severity=a.severity,
        state=a.state,
        state_reason=a.state_reason,
        state_timestamp=a.state_timestamp,
        timestamp=a.timestamp,
        alarm_actions=list(a.alarm_actions),
        ok_actions=list(a.ok_actions),
        insufficient_data_actions=list(a.insufficient_data_actions),
        repeat_actions=a.repeat_actions,
        time_constraints=list(a.time_constraints),
        resource_id=a.resource_id,
        admin=a.admin,
        generation=a.generation,
    )


class AlarmRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    async def get(self, alarm_id: str) -> Alarm | None:
        row = (await self.conn.execute(sa.select(t).where(t.c.alarm_id == alarm_id))).first()
        return row_to_alarm(row) if row else None

    async def find(
        self, *, project_id: str | None = None, enabled_only: bool = False
    ) -> list[Alarm]:
        query = sa.select(t).order_by(t.c.timestamp, t.c.alarm_id)
        if project_id is not None:
            query = query.where(t.c.project_id == project_id)
        if enabled_only:
            query = query.where(t.c.enabled == sa.true())
        return [row_to_alarm(r) for r in await self.conn.execute(query)]

    async def stream_all(self, batch: int = 5000) -> list[Alarm]:
        """Every alarm (the evaluator's index load), read in batches by primary key."""
        result: list[Alarm] = []
        last = ""
        while True:
            rows = (
                await self.conn.execute(
                    sa.select(t).where(t.c.alarm_id > last).order_by(t.c.alarm_id).limit(batch)
                )
            ).all()
            if not rows:
                return result
            result.extend(row_to_alarm(r) for r in rows)
            last = rows[-1].alarm_id

    async def name_taken(self, project_id: str, name: str, *, but: str | None = None) -> bool:
        query = sa.select(t.c.alarm_id).where(t.c.project_id == project_id, t.c.name == name)
        if but is not None:
            query = query.where(t.c.alarm_id != but)
        return (await self.conn.execute(query.limit(1))).first() is not None

    async def add(self, alarm: Alarm) -> None:
        await self.conn.execute(sa.insert(t).values(**alarm_values(alarm)))

    async def add_many(self, alarms: Iterable[Alarm]) -> None:
        rows = [alarm_values(a) for a in alarms]
        if rows:
            await self.conn.execute(sa.insert(t), rows)

    async def save(self, alarm: Alarm) -> None:
        await self.conn.execute(
            sa.update(t).where(t.c.alarm_id == alarm.alarm_id).values(**alarm_values(alarm))
        )

    async def delete(self, alarm_id: str) -> bool:
        result = await self.conn.execute(sa.delete(t).where(t.c.alarm_id == alarm_id))
        return bool(result.rowcount)

    async def set_state(self, alarm_id: str, state: str, reason: str, at: datetime) -> None:
        await self.conn.execute(
            sa.update(t)
            .where(t.c.alarm_id == alarm_id)
            .values(state=state, state_reason=reason, state_timestamp=at)
        )

    async def get_many(self, alarm_ids: Sequence[str]) -> dict[str, Alarm]:
        if not alarm_ids:
            return {}
        rows = await self.conn.execute(sa.select(t).where(t.c.alarm_id.in_(list(alarm_ids))))
        return {r.alarm_id: row_to_alarm(r) for r in rows}

    async def fire_many(self, attempts: Sequence[FireAttempt], at: datetime) -> FireResult:
        """Fire a batch: a claim per (alarm, event), then ONE compare-and-set statement.

        1. ``alarm_fires`` gets a row per (alarm, event) unless one exists: an event redelivered
           after its fire committed (a bus outage, a process killed before it acknowledged)
           claims nothing, so it can never fire an alarm twice, repeating or not. On
           PostgreSQL a concurrent claim of the same pair waits for the first to commit.
        2. One UPDATE moves every claimed alarm that is still the evaluated definition
           (``generation``), enabled, in the state the evaluator saw, and not in ``alarm`` yet
           unless it repeats; RETURNING says which ones this statement moved.
        3. The claims of the alarms that lost are released, so the evaluator can retry them
           against the fresh definition.

        An alarm must appear once per batch (the evaluator defers the second attempt).
        """
        result = FireResult()
        if not attempts:
            return result
        keys = {a.alarm_id: _event_key(a.message_id) for a in attempts}
        insert = pg_insert(f) if self.uow.dialect == "postgresql" else sqlite_insert(f)
        claim = insert.on_conflict_do_nothing(
            index_elements=[f.c.alarm_id, f.c.message_id]
        ).returning(f.c.alarm_id)
        rows = [{"alarm_id": a, "message_id": m, "fired_at": at} for a, m in keys.items()]
        claimed = {row[0] for row in await self.conn.execute(claim, rows)}
        result.duplicate = set(keys) - claimed
        todo = [a for a in attempts if a.alarm_id in claimed]
        if not todo:
            return result
        statement = (
            sa.update(t)
            .where(
                sa.tuple_(t.c.alarm_id, t.c.generation, t.c.state).in_(
                    [(a.alarm_id, a.generation, a.expected) for a in todo]
                ),
                t.c.enabled == sa.true(),
                # from ``alarm`` only a repeating alarm fires again
                sa.or_(t.c.state != ALARM, t.c.repeat_actions == sa.true()),
            )
            .values(
                state=ALARM,
                state_reason=sa.case({a.alarm_id: a.reason for a in todo}, value=t.c.alarm_id),
                state_timestamp=at,
            )
            .returning(t.c.alarm_id)
        )
        result.won = {row[0] for row in await self.conn.execute(statement)}
        lost = [(a.alarm_id, keys[a.alarm_id]) for a in todo if a.alarm_id not in result.won]
        if lost:
            await self.conn.execute(
                sa.delete(f).where(sa.tuple_(f.c.alarm_id, f.c.message_id).in_(lost))
            )
        return result

    async def purge_fires(self, before: datetime) -> int:
        """Forget claims older than any redelivery can be."""
        result = await self.conn.execute(sa.delete(f).where(f.c.fired_at < before))
        return result.rowcount or 0

    async def record_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        """History rows in one statement (``history_row`` builds them)."""
        if rows:
            await self.conn.execute(sa.insert(h), list(rows))

    async def history(
        self, alarm_id: str | None, *, on_behalf_of: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        query = sa.select(h)
        if alarm_id is not None:
            query = query.where(h.c.alarm_id == alarm_id)
        if on_behalf_of is not None:
            query = query.where(h.c.on_behalf_of == on_behalf_of)
        query = query.order_by(h.c.timestamp.desc(), h.c.event_id)
        if limit:
            query = query.limit(limit)
        return [dict(r._mapping) for r in await self.conn.execute(query)]


def history_row(
    alarm_id: str,
    change_type: str,
    detail: dict[str, Any],
    *,
    at: datetime,
    user_id: str | None,
    project_id: str | None,
    on_behalf_of: str | None,
    severity: str | None,
) -> dict[str, Any]:
    return dict(
        event_id=str(uuid.uuid4()),
        alarm_id=alarm_id,
        type=change_type,
        detail=json.dumps(detail, sort_keys=True, default=str),
        user_id=user_id,
        project_id=project_id,
        on_behalf_of=on_behalf_of,
        severity=severity,
        timestamp=at,
    )
