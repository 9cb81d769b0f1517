"""Chassis queries. The liveness feature builds its batched heartbeat writes on top."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from stateward.domain.chassis import Chassis, ServiceStatus
from stateward.store.db import UnitOfWork
from stateward.store.tables.chassis import chassis as t


def _chassis(row: Any) -> Chassis:
    return Chassis(
        name=row.name,
        ip=row.ip,
        tunnel_types=list(row.tunnel_types),
        external_ids=dict(row.external_ids),
        heartbeat_at=row.heartbeat_at,
        service_status={k: ServiceStatus.from_dict(v) for k, v in row.service_status.items()},
        admin_state_up=row.admin_state_up,
        created_at=row.created_at,
        generation=row.generation,
        announced=row.announced,
        report_interval=row.report_interval,
        disabled_agents=list(row.disabled_agents or []),
    )


def _values(c: Chassis) -> dict[str, Any]:
    return dict(
        name=c.name,
        ip=c.ip,
        tunnel_types=list(c.tunnel_types),
        external_ids=dict(c.external_ids),
        heartbeat_at=c.heartbeat_at,
        service_status={k: v.to_dict() for k, v in c.service_status.items()},
        admin_state_up=c.admin_state_up,
        created_at=c.created_at,
        generation=c.generation,
        announced=c.announced,
        report_interval=c.report_interval,
        disabled_agents=list(c.disabled_agents),
    )


class ChassisRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    async def get(self, name: str) -> Chassis | None:
        row = (await self.conn.execute(sa.select(t).where(t.c.name == name))).first()
        return _chassis(row) if row else None

    async def list(self, names: list[str] | None = None) -> list[Chassis]:
        query = sa.select(t).order_by(t.c.name)
        if names is not None:
            query = query.where(t.c.name.in_(names))
        return [_chassis(r) for r in await self.conn.execute(query)]

    async def add(self, chassis: Chassis) -> None:
        await self.conn.execute(sa.insert(t).values(**_values(chassis)))

    async def save(self, chassis: Chassis) -> None:
        await self.conn.execute(
            sa.update(t).where(t.c.name == chassis.name).values(**_values(chassis))
        )

    async def delete(self, name: str) -> bool:
        result = await self.conn.execute(sa.delete(t).where(t.c.name == name))
        return bool(result.rowcount)

    async def names(self) -> builtins.list[str]:
        return [r.name for r in await self.conn.execute(sa.select(t.c.name))]

    async def liveness_rows(self) -> builtins.list[tuple[str, datetime | None, str | None]]:
        """(name, last report, announced state) of every chassis: the watcher's rebuild."""
        rows = await self.conn.execute(sa.select(t.c.name, t.c.heartbeat_at, t.c.announced))
        return [(r.name, r.heartbeat_at, r.announced) for r in rows]

    async def record_heartbeats(
        self,
        beats: Sequence[tuple[str, datetime]],
        statuses: Sequence[tuple[str, datetime, dict[str, Any]]] = (),
    ) -> None:
        """Write many reports with two executemany UPDATEs (one round trip each).

        A report never moves a timestamp backwards (reports from several processes may
        interleave). Unknown chassis are skipped (their UPDATE matches no row).
        """
        if beats:
            await self.conn.execute(
                sa.update(t)
                .where(t.c.name == sa.bindparam("b_name"))
                .where(sa.or_(t.c.heartbeat_at.is_(None), t.c.heartbeat_at < sa.bindparam("b_at")))
                .values(heartbeat_at=sa.bindparam("b_at")),
                [{"b_name": n, "b_at": at} for n, at in beats],
            )
        if statuses:
            await self.conn.execute(
                sa.update(t)
                .where(t.c.name == sa.bindparam("b_name"))
                .where(sa.or_(t.c.heartbeat_at.is_(None), t.c.heartbeat_at <= sa.bindparam("b_at")))
                .values(heartbeat_at=sa.bindparam("b_at"), service_status=sa.bindparam("b_ss")),
                [{"b_name": n, "b_at": at, "b_ss": ss} for n, at, ss in statuses],
            )

    async def record_one_heartbeat(self, name: str, at: datetime) -> int:
        """The one-UPDATE-per-report baseline (what Nova and Neutron do)."""
        result = await self.conn.execute(
            sa.update(t).where(t.c.name == name).values(heartbeat_at=at)
        )
        return int(result.rowcount)

    async def announce(
        self, name: str, state: str, *, expected_generation: int, stale_before: datetime | None
    ) -> bool:
        """Compare-and-set the announced up/down state, bumping the generation.

        Succeeds for exactly one caller: the one that still sees ``expected_generation`` and a
        different announced state. For "down", ``stale_before`` also requires the stored report
        to be older than that (a fresher report that this process has not seen yet wins).
        Returns False when the transition already happened or is void.
        """
        query = (
            sa.update(t)
            .where(t.c.name == name)
            .where(t.c.generation == expected_generation)
            .where(sa.or_(t.c.announced.is_(None), t.c.announced != state))
            .values(announced=state, generation=t.c.generation + 1)
        )
        if stale_before is not None:
            query = query.where(sa.or_(t.c.heartbeat_at.is_(None), t.c.heartbeat_at < stale_before))
        result = await self.conn.execute(query)
        return bool(result.rowcount)

    async def existing(self, names: Sequence[str]) -> builtins.list[str]:
        rows = await self.conn.execute(sa.select(t.c.name).where(t.c.name.in_(list(names))))
        return [r.name for r in rows]
