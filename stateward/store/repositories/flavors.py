"""Flavor rows: the flavor itself (extra specs as one JSON column) and its access list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stateward.domain.flavor import Flavor
from stateward.store.db import UnitOfWork
from stateward.store.tables import flavors as t

F = t.flavors.c
A = t.flavor_access.c


def _flavor(row: Any) -> Flavor:
    return Flavor(
        id=row.id,
        name=row.name,
        vcpus=row.vcpus,
        ram=row.ram,
        disk=row.disk,
        ephemeral=row.ephemeral,
        swap=row.swap,
        rxtx_factor=row.rxtx_factor,
        is_public=row.is_public,
        disabled=row.disabled,
        description=row.description,
        extra_specs=dict(row.extra_specs),
        created_at=row.created_at,
    )


def _values(f: Flavor) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "vcpus": f.vcpus,
        "ram": f.ram,
        "disk": f.disk,
        "ephemeral": f.ephemeral,
        "swap": f.swap,
        "rxtx_factor": f.rxtx_factor,
        "is_public": f.is_public,
        "disabled": f.disabled,
        "description": f.description,
        "extra_specs": dict(f.extra_specs),
        "created_at": f.created_at,
    }


class FlavorRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.conn = uow.conn

    async def add(self, flavor: Flavor) -> str | None:
        """Insert; on a clash returns which unique key was taken (``id`` or ``name``)."""
        if await self.get(flavor.id) is not None:
            return "id"
        if await self.find_by_name(flavor.name) is not None:
            return "name"
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(sa.insert(t.flavors).values(**_values(flavor)))
        except IntegrityError:
            return "id" if await self.get(flavor.id) is not None else "name"
        return None

    async def get(self, flavor_id: str) -> Flavor | None:
        row = (await self.conn.execute(sa.select(t.flavors).where(F.id == flavor_id))).first()
        return _flavor(row) if row else None

    async def find_by_name(self, name: str) -> Flavor | None:
        row = (await self.conn.execute(sa.select(t.flavors).where(F.name == name))).first()
        return _flavor(row) if row else None

    async def find(
        self,
        *,
        project_id: str | None,
        is_public: bool | None = True,
        min_ram: int | None = None,
        min_disk: int | None = None,
    ) -> list[Flavor]:
        """Flavors in Nova's order (flavorid). ``is_public`` True: the public ones plus the
        private ones ``project_id`` may use; False: only private ones; None: all (Nova's
        ``flavor_get_all`` filter)."""
        query = sa.select(t.flavors)
        if is_public is True and project_id is not None:
            shared = sa.select(A.flavor_id).where(A.project_id == project_id)
            query = query.where(sa.or_(F.is_public.is_(True), F.id.in_(shared)))
        elif is_public is not None:
            query = query.where(F.is_public.is_(is_public))
        if min_ram is not None:
            query = query.where(F.ram >= min_ram)
        if min_disk is not None:
            query = query.where(F.disk >= min_disk)
        rows = await self.conn.execute(query)
        return sorted((_flavor(r) for r in rows), key=_natural)

    async def save(self, flavor: Flavor) -> None:
        await self.conn.execute(
            sa.update(t.flavors).where(F.id == flavor.id).values(**_values(flavor))
        )

    async def delete(self, flavor_id: str) -> bool:
        await self.conn.execute(sa.delete(t.flavor_access).where(A.flavor_id == flavor_id))
        result = await self.conn.execute(sa.delete(t.flavors).where(F.id == flavor_id))
        return bool(result.rowcount)

    async def access(self, flavor_id: str) -> list[str]:
        rows = await self.conn.execute(
            sa.select(A.project_id).where(A.flavor_id == flavor_id).order_by(A.project_id)
        )
        return [r[0] for r in rows]

    async def has_access(self, flavor_id: str, project_id: str) -> bool:
        row = await self.conn.execute(
            sa.select(A.flavor_id).where(A.flavor_id == flavor_id, A.project_id == project_id)
        )
        return row.first() is not None

    async def add_access(self, flavor_id: str, project_id: str) -> bool:
        if await self.has_access(flavor_id, project_id):
            return False
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    sa.insert(t.flavor_access).values(flavor_id=flavor_id, project_id=project_id)
                )
        except IntegrityError:
            return False
        return True

    async def remove_access(self, flavor_id: str, project_id: str) -> bool:
        result = await self.conn.execute(
            sa.delete(t.flavor_access).where(A.flavor_id == flavor_id, A.project_id == project_id)
        )
        return bool(result.rowcount)

    async def count(self) -> int:
        query = sa.select(sa.func.count()).select_from(t.flavors)
        return int((await self.conn.execute(query)).scalar_one())


def _natural(flavor: Flavor) -> tuple[int, int | str, str]:
    """Nova sorts by flavorid; numeric ids in numeric order, before the others."""
    return (0, int(flavor.id), "") if flavor.id.isdigit() else (1, flavor.id, flavor.id)
