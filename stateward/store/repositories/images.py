"""Image rows and image members. Status changes are compare-and-set on the expected status, so
two uploads to one image (from any two processes) cannot both start."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import sqlalchemy as sa

from stateward.domain.image import Image, Member
from stateward.store.db import UnitOfWork
from stateward.store.tables import images as t

I = t.images.c  # noqa: E741
M = t.image_members.c

SORT_KEYS = {
    "name": I.name,
    "status": I.status,
    "container_format": I.container_format,
    "disk_format": I.disk_format,
    "size": I.size,
    "id": I.id,
    "created_at": I.created_at,
    "updated_at": I.updated_at,
    "visibility": I.visibility,
    "owner": I.owner,
    "min_ram": I.min_ram,
    "min_disk": I.min_disk,
}


def _image(row: Any) -> Image:
    return Image(
        id=row.id,
        owner=row.owner,
        name=row.name,
        status=row.status,
        visibility=row.visibility,
        protected=row.protected,
        os_hidden=row.os_hidden,
        checksum=row.checksum,
        os_hash_algo=row.os_hash_algo,
        os_hash_value=row.os_hash_value,
        size=row.size,
        virtual_size=row.virtual_size,
        min_ram=row.min_ram,
        min_disk=row.min_disk,
        disk_format=row.disk_format,
        container_format=row.container_format,
        tags=list(row.tags),
        properties=dict(row.properties),
        location=row.location,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _values(i: Image) -> dict[str, Any]:
    return {
        "id": i.id,
        "owner": i.owner,
        "name": i.name,
        "status": i.status,
        "visibility": i.visibility,
        "protected": i.protected,
        "os_hidden": i.os_hidden,
        "checksum": i.checksum,
        "os_hash_algo": i.os_hash_algo,
        "os_hash_value": i.os_hash_value,
        "size": i.size,
        "virtual_size": i.virtual_size,
        "min_ram": i.min_ram,
        "min_disk": i.min_disk,
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "tags": list(i.tags),
        "properties": dict(i.properties),
        "location": i.location,
        "created_at": i.created_at,
        "updated_at": i.updated_at,
    }


def _member(row: Any) -> Member:
    return Member(row.image_id, row.member, row.status, row.created_at, row.updated_at)


class ImageRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn = uow.conn

    async def add(self, image: Image) -> bool:
        if await self.get(image.id) is not None:
            return False
        await self.conn.execute(sa.insert(t.images).values(**_values(image)))
        return True

    async def get(self, image_id: str, *, lock: bool = False) -> Image | None:
        query = sa.select(t.images).where(I.id == image_id, I.status != "deleted")
        if lock and self.uow.dialect == "postgresql":
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return _image(row) if row else None

    async def save(self, image: Image) -> None:
        await self.conn.execute(
            sa.update(t.images).where(I.id == image.id).values(**_values(image))
        )

    async def set_status(self, image_id: str, expected: str, new: str, **values: Any) -> bool:
        """Compare-and-set: True only when the image was in ``expected``."""
        result = await self.conn.execute(
            sa.update(t.images)
            .where(I.id == image_id, I.status == expected)
            .values(status=new, **values)
        )
        return bool(result.rowcount)

    async def delete(self, image_id: str) -> None:
        await self.conn.execute(sa.delete(t.images).where(I.id == image_id))

    async def find(
        self,
        *,
        project_id: str | None,
        admin: bool,
        visibility: str | None,
        member_status: str,
        filters: dict[str, Any],
        properties: dict[str, str],
        tags: Sequence[str],
        sort: Sequence[tuple[str, str]],
        limit: int,
        marker: Image | None,
    ) -> list[Image]:
        """Glance's listing: what the caller may see, filtered, sorted, one page."""
        query = sa.select(t.images).where(I.status != "deleted")
        shared_with = sa.select(M.image_id).where(M.member == (project_id or ""))
        if member_status != "all":
            shared_with = shared_with.where(M.status == member_status)
        owned = I.owner == project_id
        if visibility is None:
            # default listing: public, own, shared-with-me (accepted); never community
            if admin:
                query = query.where(I.visibility != "community")
            else:
                query = query.where(
                    sa.or_(
                        I.visibility == "public",
                        owned,
                        sa.and_(I.visibility == "shared", I.id.in_(shared_with)),
                    )
                )
        elif visibility == "all":
            if not admin:
                query = query.where(
                    sa.or_(
                        I.visibility.in_(["public", "community"]),
                        owned,
                        sa.and_(I.visibility == "shared", I.id.in_(shared_with)),
                    )
                )
        else:
            query = query.where(I.visibility == visibility)
            if not admin and visibility in ("private",):
                query = query.where(owned)
            if not admin and visibility == "shared":
                query = query.where(sa.or_(owned, I.id.in_(shared_with)))
        for key, value in filters.items():
            if key == "size_min":
                query = query.where(I.size >= value)
            elif key == "size_max":
                query = query.where(I.size <= value)
            elif isinstance(value, list):
                query = query.where(getattr(I, key).in_(value))
            else:
                query = query.where(getattr(I, key) == value)
        rows = [_image(r) for r in await self.conn.execute(query)]
        # extra-property and tag filters on the JSON columns, portably
        rows = [
            r
            for r in rows
            if all(r.properties.get(k) == v for k, v in properties.items())
            and all(tag in r.tags for tag in tags)
        ]
        rows.sort(key=lambda r: r.id)
        for key, direction in reversed(sort):
            rows.sort(key=partial(_sort_value, key=key), reverse=direction == "desc")
        if marker is not None:
            ids = [r.id for r in rows]
            rows = rows[ids.index(marker.id) + 1 :] if marker.id in ids else []
        return rows[:limit]

    # members ---------------------------------------------------------------------------------
    async def member(self, image_id: str, member: str) -> Member | None:
        row = (
            await self.conn.execute(
                sa.select(t.image_members).where(M.image_id == image_id, M.member == member)
            )
        ).first()
        return _member(row) if row else None

    async def members(self, image_id: str) -> list[Member]:
        rows = await self.conn.execute(
            sa.select(t.image_members).where(M.image_id == image_id).order_by(M.created_at)
        )
        return [_member(r) for r in rows]

    async def add_member(self, member: Member) -> None:
        await self.conn.execute(
            sa.insert(t.image_members).values(
                image_id=member.image_id,
                member=member.member,
                status=member.status,
                created_at=member.created_at,
                updated_at=member.updated_at,
            )
        )

    async def update_member(self, member: Member) -> None:
        await self.conn.execute(
            sa.update(t.image_members)
            .where(M.image_id == member.image_id, M.member == member.member)
            .values(status=member.status, updated_at=member.updated_at)
        )

    async def delete_member(self, image_id: str, member: str) -> bool:
        result = await self.conn.execute(
            sa.delete(t.image_members).where(M.image_id == image_id, M.member == member)
        )
        return bool(result.rowcount)


def _sort_value(image: Image, key: str) -> tuple[int, Any]:
    value = getattr(image, key)
    return (0, "") if value is None else (1, value)
