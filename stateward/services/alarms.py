"""Alarm use cases: create, replace, delete, set state, history. One transaction each, with the
history row and an ``alarm.*`` notification (Aodh's names) in the same transaction.

Every change is also handed synchronously to this process's listeners (the evaluator's index),
so a created or changed alarm takes effect on the very next event evaluated here; other
processes learn it from the ``alarm.*`` notification (broadcast), which carries the whole alarm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from stateward.domain.alarm import ALARM, Alarm, alarm_to_dict
from stateward.domain.errors import Conflict, NotFound
from stateward.domain.events import Envelope, TraceContext, deterministic_id, utcnow
from stateward.store.db import Store, UnitOfWork
from stateward.store.repositories.alarms import AlarmRepository, history_row

log = logging.getLogger(__name__)

PUBLISHER = "alarm.stateward"
CREATION = "creation"
RULE_CHANGE = "rule change"
STATE_TRANSITION = "state transition"
DELETION = "deletion"

# Called with (alarm_id, alarm or None when deleted) after each committed change.
ChangeListener = Callable[[str, Alarm | None], None]


def iso(value: datetime | None) -> str | None:
    """Aodh's timestamp format: ISO 8601, UTC, without an offset."""
    return value.replace(tzinfo=None).isoformat() if value else None


def alarm_view(a: Alarm) -> dict[str, Any]:
    """Aodh v2's representation (what ``openstack alarm show`` prints), plus ``resource_id``."""
    return {
        "alarm_id": a.alarm_id,
        "name": a.name,
        "description": a.description,
        "type": a.type,
        "enabled": a.enabled,
        "severity": a.severity,
        "state": a.state,
        "state_reason": a.state_reason,
        "state_timestamp": iso(a.state_timestamp),
        "timestamp": iso(a.timestamp),
        "alarm_actions": list(a.alarm_actions),
        "ok_actions": list(a.ok_actions),
        "insufficient_data_actions": list(a.insufficient_data_actions),
        "repeat_actions": a.repeat_actions,
        "time_constraints": [dict(tc) for tc in a.time_constraints],
        "project_id": a.project_id,
        "user_id": a.user_id,
        "event_rule": a.rule.as_dict(),
        "resource_id": a.resource_id,
    }


def history_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "alarm_id": row["alarm_id"],
        "type": row["type"],
        "detail": row["detail"],
        "user_id": row["user_id"],
        "project_id": row["project_id"],
        "on_behalf_of": row["on_behalf_of"],
        "severity": row["severity"],
        "timestamp": iso(row["timestamp"]),
    }


@dataclass(frozen=True)
class Actor:
    """Who makes a change (recorded in the history)."""

    user_id: str | None
    project_id: str | None


def _traits(alarm: Alarm, state: str) -> dict[str, Any]:
    """What other processes' indexes need to know of a change (and alarms could match on)."""
    return {
        "alarm_id": alarm.alarm_id,
        "project_id": alarm.project_id,
        "tenant_id": alarm.project_id,
        "generation": alarm.generation,
        "state": state,
    }


def change_envelope(kind: str, alarm: Alarm, detail: dict[str, Any]) -> Envelope:
    return Envelope(
        event_type="alarm." + kind.replace(" ", "_"),
        publisher_id=PUBLISHER,
        project_id=alarm.project_id,
        resource_id=alarm.alarm_id,
        traits=_traits(alarm, alarm.state),
        # the whole alarm, so other processes update their index without reading the store
        payload={
            "alarm_id": alarm.alarm_id,
            "type": kind,
            "detail": detail,
            "alarm": alarm_to_dict(alarm),
        },
    )


def fire_envelope(
    fired: Alarm,
    previous: str,
    reason: str,
    reason_data: dict[str, Any],
    *,
    cause: str,
    trace: TraceContext | None = None,
) -> Envelope:
    """The evaluator's ``alarm.state_transition``, also the notifier's work order.

    Aodh's shape (the history entry: type, detail, severity, on_behalf_of, timestamp) with the
    reason, the event's data and what the notifier needs (name, actions) — not the whole alarm:
    a fire changes only the state, which the other processes' indexes take from the traits.
    Its id derives from (alarm, event): the same fire can never be two notifications.
    """
    return Envelope(
        event_type="alarm." + STATE_TRANSITION.replace(" ", "_"),
        publisher_id=PUBLISHER,
        project_id=fired.project_id,
        resource_id=fired.alarm_id,
        traits=_traits(fired, ALARM),
        payload={
            "alarm_id": fired.alarm_id,
            "type": STATE_TRANSITION,
            "detail": {
                "state": ALARM,
                "previous": previous,
                "transition_reason": reason,
                "reason_data": reason_data,
                "notify": True,
            },
            "on_behalf_of": fired.project_id,
            "severity": fired.severity,
            "timestamp": iso(fired.state_timestamp),
            "notification": {"alarm_name": fired.name, "actions": list(fired.alarm_actions)},
        },
        message_id=deterministic_id("alarm.state_transition", fired.alarm_id, cause),
        trace=trace,
    )


class AlarmService:
    def __init__(self, store: Store, *, record_history: bool = True) -> None:
        self.store = store
        self.record_history = record_history
        self.listeners: list[ChangeListener] = []

    def _changed(self, alarm_id: str, alarm: Alarm | None) -> None:
        for listener in self.listeners:
            try:
                listener(alarm_id, alarm)
            except Exception:
                log.exception("alarm change listener failed", extra={"alarm_id": alarm_id})

    async def _record(
        self,
        uow: UnitOfWork,
        alarm: Alarm,
        kind: str,
        detail: dict[str, Any],
        actor: Actor,
        at: datetime,
    ) -> None:
        if self.record_history:
            row = history_row(
                alarm.alarm_id,
                kind,
                detail,
                at=at,
                user_id=actor.user_id,
                project_id=actor.project_id,
                on_behalf_of=alarm.project_id,
                severity=alarm.severity,
            )
            await AlarmRepository(uow).record_changes([row])
        uow.emit(change_envelope(kind, alarm, detail))

    async def get(self, alarm_id: str) -> Alarm:
        async with self.store.uow(readonly=True) as uow:
            alarm = await AlarmRepository(uow).get(alarm_id)
        if alarm is None:
            raise NotFound(f"Alarm {alarm_id} not found")
        return alarm

    async def find(self, project_id: str | None) -> list[Alarm]:
        async with self.store.uow(readonly=True) as uow:
            return await AlarmRepository(uow).find(project_id=project_id)

    async def create(self, alarm: Alarm, actor: Actor) -> Alarm:
        now = utcnow()
        alarm = replace(alarm, timestamp=now, state_timestamp=now, generation=1)
        async with self.store.uow() as uow:
            repo = AlarmRepository(uow)
            if await repo.name_taken(alarm.project_id, alarm.name):
                raise Conflict(f"Alarm with name='{alarm.name}' exists")
            await repo.add(alarm)
            await self._record(uow, alarm, CREATION, _detail(alarm), actor, now)
            await uow.commit()
        self._changed(alarm.alarm_id, alarm)
        return alarm

    async def replace(self, new: Alarm, actor: Actor) -> Alarm:
        """PUT: the whole definition replaced; a state change is recorded as a transition."""
        now = utcnow()
        async with self.store.uow() as uow:
            repo = AlarmRepository(uow)
            old = await repo.get(new.alarm_id)
            if old is None:
                raise NotFound(f"Alarm {new.alarm_id} not found")
            if (new.name, new.project_id) != (old.name, old.project_id) and await repo.name_taken(
                new.project_id, new.name, but=new.alarm_id
            ):
                raise Conflict(f"Alarm with name={new.name} exists")
            state_changed = new.state != old.state
            new = replace(
                new,
                timestamp=now,
                state_timestamp=now if state_changed else old.state_timestamp,
                state_reason="Manually set via API" if state_changed else old.state_reason,
                generation=old.generation + 1,
            )
            await repo.save(new)
            before, after = _detail(old), _detail(new)
            change = {k: v for k, v in after.items() if before.get(k) != v and k != "state"}
            if change:
                await self._record(uow, new, RULE_CHANGE, change, actor, now)
            if state_changed:
                await self._record(uow, new, STATE_TRANSITION, {"state": new.state}, actor, now)
            await uow.commit()
        self._changed(new.alarm_id, new)
        return new

    async def delete(self, alarm_id: str, actor: Actor) -> None:
        now = utcnow()
        async with self.store.uow() as uow:
            repo = AlarmRepository(uow)
            alarm = await repo.get(alarm_id)
            if alarm is None:
                raise NotFound(f"Alarm {alarm_id} not found")
            await repo.delete(alarm_id)
            await self._record(uow, alarm, DELETION, _detail(alarm), actor, now)
            await uow.commit()
        self._changed(alarm_id, None)

    async def set_state(self, alarm_id: str, state: str, actor: Actor) -> Alarm:
        now = utcnow()
        async with self.store.uow() as uow:
            repo = AlarmRepository(uow)
            alarm = await repo.get(alarm_id)
            if alarm is None:
                raise NotFound(f"Alarm {alarm_id} not found")
            alarm = alarm.with_state(state, "Manually set via API", now)
            await repo.set_state(alarm_id, state, alarm.state_reason, now)
            await self._record(uow, alarm, STATE_TRANSITION, {"state": state}, actor, now)
            await uow.commit()
        self._changed(alarm_id, alarm)
        return alarm

    async def history(self, alarm_id: str | None, on_behalf_of: str | None) -> list[dict[str, Any]]:
        """Newest first; every alarm's when ``alarm_id`` is None (history search)."""
        async with self.store.uow(readonly=True) as uow:
            return await AlarmRepository(uow).history(alarm_id, on_behalf_of=on_behalf_of)


def _detail(a: Alarm) -> dict[str, Any]:
    view = alarm_view(a)
    for key in ("timestamp", "state_timestamp", "state_reason"):
        view.pop(key, None)
    return view
