"""Chassis queries. The liveness feature builds its batched heartbeat writes on top."""

from __future__ import annotations

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
