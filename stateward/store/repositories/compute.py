"""Compute rows: service overrides, servers, host fault history. Host-down is set-based."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from stateward.domain import compute as rules
from stateward.domain.compute import Server, ServerState, ServiceOverride
from stateward.store.db import UnitOfWork
from stateward.store.tables import compute as t

S = t.servers.c
O = t.compute_services.c  # noqa: E741
F = t.host_faults.c


def _server(row: Any) -> Server:
    return Server(
        id=row.id,
        project_id=row.project_id,
        user_id=row.user_id,
        name=row.name,
        host=row.host,
        vm_state=row.vm_state,
        task_state=row.task_state,
        power_state=row.power_state,
        image_ref=row.image_ref,
        flavor_ref=row.flavor_ref,
        availability_zone=row.availability_zone,
        description=row.description,
        metadata=dict(row.metadata),
        created_at=row.created_at,
        updated_at=row.updated_at,
        launched_at=row.launched_at,
        deleted_at=row.deleted_at,
        vcpus=row.vcpus,
        memory_mb=row.memory_mb,
        root_gb=row.root_gb,
        flavor=dict(row.flavor) if row.flavor is not None else None,
        fault=dict(row.fault) if row.fault is not None else None,
        created_ports=list(row.created_ports or []),
    )


def _server_values(s: Server) -> dict[str, Any]:
    return dict(
        id=s.id,
        project_id=s.project_id,
        user_id=s.user_id,
        name=s.name,
        host=s.host,
        vm_state=s.vm_state,
        task_state=s.task_state,
        power_state=s.power_state,
        image_ref=s.image_ref,
        flavor_ref=s.flavor_ref,
        availability_zone=s.availability_zone,
        description=s.description,
        metadata=dict(s.metadata),
        created_at=s.created_at,
        updated_at=s.updated_at,
        launched_at=s.launched_at,
        deleted_at=s.deleted_at,
        vcpus=s.vcpus,
        memory_mb=s.memory_mb,
        root_gb=s.root_gb,
        flavor=dict(s.flavor) if s.flavor is not None else None,
        fault=dict(s.fault) if s.fault is not None else None,
        created_ports=list(s.created_ports),
    )


@dataclass(frozen=True, slots=True)
class ServerChange:
    """One server a host-down moved: enough for its notification, no re-read needed."""

    server: Server  # after the change
    old: ServerState


@dataclass(frozen=True, slots=True)
class FaultRecord:
    id: int
    host: str
    event_type: str
    monitor: str | None
    monitor_event_id: str | None
    reported_time: str | None
    received_at: datetime
    outcome: str
    servers_changed: int
    ports_changed: int
    details: dict[str, Any]
    trace_id: str | None


class ComputeRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    # service overrides ------------------------------------------------------------------
    async def overrides(self, hosts: Sequence[str] | None = None) -> dict[str, ServiceOverride]:
        query = sa.select(t.compute_services)
        if hosts is not None:
            query = query.where(O.host.in_(list(hosts)))
        return {
            r.host: ServiceOverride(
                r.host, r.disabled, r.disabled_reason, r.forced_down, r.updated_at
            )
            for r in await self.conn.execute(query)
        }

    async def _ensure_override(self, host: str) -> None:
        exists = (await self.conn.execute(sa.select(O.host).where(O.host == host))).first()
        if exists:
            return
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(sa.insert(t.compute_services).values(host=host))
        except IntegrityError:
            pass  # another process created it first

    async def update_override(self, host: str, now: datetime, **values: Any) -> None:
        await self._ensure_override(host)
        await self.conn.execute(
            sa.update(t.compute_services).where(O.host == host).values(updated_at=now, **values)
        )

    async def set_forced_down(self, host: str, forced_down: bool, now: datetime) -> bool:
        """Compare-and-set: True only for the caller that actually flipped the flag.

        Forcing down (the fault path) is one statement: insert the override row already
        forced down, or update it only when it is not (``INSERT … ON CONFLICT DO UPDATE …
        WHERE``); a row comes back only when this call changed it.
        """
        if not forced_down:
            await self._ensure_override(host)
            result = await self.conn.execute(
                sa.update(t.compute_services)
                .where(O.host == host, O.forced_down.is_(True))
                .values(forced_down=False, updated_at=now)
            )
            return bool(result.rowcount)
        insert = (
            pg_insert(t.compute_services)
            if self.uow.dialect == "postgresql"
            else sqlite_insert(t.compute_services)
        )
        statement = (
            insert.values(host=host, forced_down=True, updated_at=now)
            .on_conflict_do_update(
                index_elements=[O.host],
                set_={"forced_down": True, "updated_at": now},
                where=O.forced_down.is_(False),
            )
            .returning(O.host)
        )
        return (await self.conn.execute(statement)).first() is not None

    # servers ----------------------------------------------------------------------------
    async def add_server(self, server: Server) -> None:
        await self.conn.execute(sa.insert(t.servers).values(**_server_values(server)))

    async def get_server(self, server_id: str, *, lock: bool = False) -> Server | None:
        query = sa.select(t.servers).where(S.id == server_id, S.deleted_at.is_(None))
        if lock and self.uow.dialect == "postgresql":
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return _server(row) if row else None

    async def save_server(self, server: Server) -> None:
        await self.conn.execute(
            sa.update(t.servers).where(S.id == server.id).values(**_server_values(server))
        )

    async def list_servers(
        self,
        *,
        project_id: str | None = None,
        host: str | None = None,
        name: str | None = None,
        vm_states: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> list[Server]:
        query = sa.select(t.servers).where(S.deleted_at.is_(None))
        if project_id is not None:
            query = query.where(S.project_id == project_id)
        if host is not None:
            query = query.where(S.host == host)
        if name is not None:
            query = query.where(S.name.contains(name, autoescape=True))
        if vm_states is not None:
            query = query.where(S.vm_state.in_(list(vm_states)))
        if ids is not None:
            query = query.where(S.id.in_(list(ids)))
        if marker is not None:
            anchor = (
                await self.conn.execute(sa.select(S.created_at).where(S.id == marker))
            ).scalar_one_or_none()
            if anchor is None:
                return []
            query = query.where(
                sa.or_(S.created_at < anchor, sa.and_(S.created_at == anchor, S.id < marker))
            )
        query = query.order_by(S.created_at.desc(), S.id.desc())
        if limit:
            query = query.limit(limit)
        return [_server(r) for r in await self.conn.execute(query)]

    async def host_usage(self, host: str | None = None) -> dict[str, tuple[int, int, int, int]]:
        """Per host: (servers, vcpus, memory_mb, root_gb) of its live servers."""
        query = (
            sa.select(
                S.host,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(S.vcpus), 0),
                sa.func.coalesce(sa.func.sum(S.memory_mb), 0),
                sa.func.coalesce(sa.func.sum(S.root_gb), 0),
            )
            .where(S.deleted_at.is_(None), S.host != "")
            .group_by(S.host)
        )
        if host is not None:
            query = query.where(S.host == host)
        rows = await self.conn.execute(query)
        return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}

    async def lock_host(self, host: str) -> None:
        """Hold ``host``'s service row until commit: one claim at a time per host, across
        processes (on SQLite the single writer already serialises claims)."""
        insert = (
            pg_insert(t.compute_services)
            if self.uow.dialect == "postgresql"
            else sqlite_insert(t.compute_services)
        )
        await self.conn.execute(
            insert.values(host=host).on_conflict_do_update(
                index_elements=[O.host], set_={"host": insert.excluded.host}
            )
        )

    async def host_index(self) -> list[tuple[str, str, str]]:
        """(host, server id, project id) of every live server: the inspector's index."""
        rows = await self.conn.execute(
            sa.select(S.host, S.id, S.project_id).where(S.deleted_at.is_(None))
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def move_host_servers(
        self, host: str, mode: rules.FaultMode, now: datetime
    ) -> list[ServerChange]:
        """Host down: every touchable server on ``host`` to the fault state, set-based.

        One SELECT (row-locked on PostgreSQL) reads the old states for the notifications,
        one UPDATE changes them all; servers already in the target state are left out.
        """
        states = rules.touched_vm_states(mode)
        if not states:
            return []
        query = sa.select(t.servers).where(
            S.host == host, S.deleted_at.is_(None), S.vm_state.in_(states)
        )
        if self.uow.dialect == "postgresql":
            query = query.with_for_update()
        changes: list[ServerChange] = []
        for row in await self.conn.execute(query):
            server = _server(row)
            new = rules.fault_transition(server.state, mode)
            if new is None:
                continue
            old = server.state
            server.apply(new)
            server.updated_at = now
            changes.append(ServerChange(server, old))
        if not changes:
            return []
        values: dict[str, Any] = {"task_state": None, "updated_at": now}
        if mode == "error":
            values["vm_state"] = rules.ERROR
        else:
            values.update(vm_state=rules.STOPPED, power_state=rules.SHUTDOWN)
        await self.conn.execute(
            sa.update(t.servers).where(S.id.in_([c.server.id for c in changes])).values(**values)
        )
        return changes

    # fault history ----------------------------------------------------------------------
    async def recent_duplicate(self, host: str, dedup_key: str, since: datetime) -> bool:
        """A raw failure with this key was received since ``since`` and is still current.

        It is no longer current once an operator cleared the host's forced_down after it:
        Doctor's sample monitor reuses one monitor_event_id for every run, and a new fault
        after a repair must act again.
        """
        cleared_after = (
            sa.select(O.host)
            .where(O.host == host, O.forced_down.is_(False), O.updated_at > F.received_at)
            .exists()
        )
        row = (
            await self.conn.execute(
                sa.select(F.id)
                .where(F.dedup_key == dedup_key, F.received_at >= since, ~cleared_after)
                .limit(1)
            )
        ).first()
        return row is not None

    async def add_fault(self, **values: Any) -> int:
        result = await self.conn.execute(sa.insert(t.host_faults).values(**values).returning(F.id))
        return int(result.scalar_one())

    async def faults(self, host: str, limit: int = 50) -> list[FaultRecord]:
        rows = await self.conn.execute(
            sa.select(t.host_faults).where(F.host == host).order_by(F.id.desc()).limit(limit)
        )
        return [
            FaultRecord(
                r.id,
                r.host,
                r.event_type,
                r.monitor,
                r.monitor_event_id,
                r.reported_time,
                r.received_at,
                r.outcome,
                r.servers_changed,
                r.ports_changed,
                dict(r.details),
                r.trace_id,
            )
            for r in rows
        ]

    async def fault_hosts(self) -> list[str]:
        rows = await self.conn.execute(sa.select(F.host).distinct())
        return [r[0] for r in rows]
