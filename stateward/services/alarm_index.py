"""The evaluator's in-memory alarm index: every enabled event alarm, compiled, per project.

Candidate alarms for an event come from the index instead of a scan of the project's alarms:

* by ``resource_id`` (the seed's optional field) — the event's resource ids;
* else by an ``eq`` query item on ``traits.instance_id``, ``traits.port_id`` or ``traits.host``;
* else by event type: exact types in a dict, wildcard patterns in a short list whose per-type
  result is cached until the project's wildcard alarms change.

Pure: no I/O, no framework.
"""

from __future__ import annotations

from collections.abc import Iterable

from stateward.domain.alarm import (
    ALARM,
    EVENT,
    RESOURCE_TRAITS,
    Alarm,
    CompiledAlarm,
    compile_alarm,
    event_project,
)
from stateward.domain.events import Envelope


class ProjectIndex:
    """The alarms of one project (or of all admin projects), by how an event finds them."""

    __slots__ = ("_wild_cache", "by_resource", "by_trait", "exact", "wild")

    def __init__(self) -> None:
        self.by_resource: dict[str, dict[str, CompiledAlarm]] = {}
        # trait name -> trait value -> alarms with an eq item on it
        self.by_trait: dict[str, dict[str, dict[str, CompiledAlarm]]] = {}
        self.exact: dict[str, dict[str, CompiledAlarm]] = {}
        self.wild: dict[str, CompiledAlarm] = {}
        self._wild_cache: dict[str, tuple[CompiledAlarm, ...]] = {}

    def __len__(self) -> int:
        return (
            sum(len(v) for v in self.by_resource.values())
            + sum(len(b) for t in self.by_trait.values() for b in t.values())
            + sum(len(v) for v in self.exact.values())
            + len(self.wild)
        )

    def _table(self, c: CompiledAlarm) -> tuple[dict[str, dict[str, CompiledAlarm]], str] | None:
        if c.index_key is not None:
            kind, value = c.index_key
            if kind == "resource":
                return self.by_resource, value
            return self.by_trait.setdefault(kind, {}), value
        if c.exact_type is not None:
            return self.exact, c.exact_type
        return None

    def add(self, c: CompiledAlarm) -> None:
        where = self._table(c)
        if where is None:
            self.wild[c.alarm_id] = c
            self._wild_cache.clear()
            return
        table, key = where
        table.setdefault(key, {})[c.alarm_id] = c

    def remove(self, c: CompiledAlarm) -> None:
        where = self._table(c)
        if where is None:
            self.wild.pop(c.alarm_id, None)
            self._wild_cache.clear()
            return
        table, key = where
        bucket = table.get(key)
        if bucket is not None:
            bucket.pop(c.alarm_id, None)
            if not bucket:
                del table[key]
        if (
            c.index_key is not None
            and c.index_key[0] != "resource"
            and not self.by_trait.get(c.index_key[0])
        ):
            self.by_trait.pop(c.index_key[0], None)

    def wildcard_for(self, event_type: str) -> tuple[CompiledAlarm, ...]:
        hits = self._wild_cache.get(event_type)
        if hits is None:
            hits = tuple(c for c in self.wild.values() if c.type_matches(event_type))
            if len(self._wild_cache) > 4096:
                self._wild_cache.clear()
            self._wild_cache[event_type] = hits
        return hits


class AlarmIndex:
    """Every enabled event alarm, compiled and indexed per project. Pure, no I/O."""

    def __init__(self) -> None:
        self.by_id: dict[str, CompiledAlarm] = {}
        self.projects: dict[str, ProjectIndex] = {}
        self.admin = ProjectIndex()

    def __len__(self) -> int:
        return len(self.by_id)

    def load(self, alarms: Iterable[Alarm]) -> None:
        self.by_id.clear()
        self.projects.clear()
        self.admin = ProjectIndex()
        for alarm in alarms:
            self.upsert(alarm)

    def upsert(self, alarm: Alarm) -> None:
        """Add or replace; an older definition than the one indexed is ignored."""
        current = self.by_id.get(alarm.alarm_id)
        if current is not None:
            if current.alarm.generation > alarm.generation:
                return
            self._unlink(current)
        if not alarm.enabled or alarm.type != EVENT:
            return
        compiled = compile_alarm(alarm)
        self.by_id[alarm.alarm_id] = compiled
        project = self.projects.get(alarm.project_id)
        if project is None:
            project = self.projects[alarm.project_id] = ProjectIndex()
        project.add(compiled)
        if alarm.admin:
            self.admin.add(compiled)

    def remove(self, alarm_id: str) -> None:
        current = self.by_id.get(alarm_id)
        if current is not None:
            self._unlink(current)

    def _unlink(self, c: CompiledAlarm) -> None:
        del self.by_id[c.alarm_id]
        project = self.projects.get(c.alarm.project_id)
        if project is not None:
            project.remove(c)
            if not len(project):
                del self.projects[c.alarm.project_id]
        if c.alarm.admin:
            self.admin.remove(c)

    def set_state(self, alarm_id: str, state: str) -> None:
        current = self.by_id.get(alarm_id)
        if current is not None:
            current.state = state

    def candidates(self, envelope: Envelope) -> list[CompiledAlarm]:
        project_id = envelope.project_id or event_project(envelope)
        index = self.projects.get(project_id) if project_id else self.admin
        if index is None:
            return []
        found: list[CompiledAlarm] = []
        traits = envelope.traits
        by_resource = index.by_resource
        if by_resource:
            rid = envelope.resource_id
            if rid:
                bucket = by_resource.get(rid)
                if bucket:
                    found.extend(bucket.values())
            for key in RESOURCE_TRAITS:
                value = traits.get(key)
                if value and value != rid:
                    bucket = by_resource.get(str(value))
                    if bucket:
                        found.extend(bucket.values())
        for trait, values in index.by_trait.items():
            value = traits.get(trait)
            if value is not None:
                bucket = values.get(value if type(value) is str else str(value))
                if bucket:
                    found.extend(bucket.values())
        bucket = index.exact.get(envelope.event_type)
        if bucket:
            found.extend(bucket.values())
        if index.wild:
            found.extend(index.wildcard_for(envelope.event_type))
        return found

    def matching(self, envelope: Envelope) -> list[CompiledAlarm]:
        """The evaluation step: alarms this event fires now (disabled ones are not indexed)."""
        event_type = envelope.event_type
        traits = envelope.traits
        hits = []
        for c in self.candidates(envelope):
            if c.state == ALARM and not c.repeat:
                continue
            exact = c.exact_type
            if exact is not None:
                if exact != event_type:
                    continue
            elif not c.type_matches(event_type):
                continue
            if c.query_matches(traits, envelope):
                hits.append(c)
        return hits


def apply_change(index: AlarmIndex, alarm_id: str, alarm: Alarm | None) -> None:
    """A committed change (None: deleted); an older definition than the indexed one is ignored."""
    if alarm is None:
        index.remove(alarm_id)
        return
    current = index.by_id.get(alarm_id)
    if current is None or current.alarm.generation <= alarm.generation:
        index.upsert(alarm)  # compiled with the alarm's current state
