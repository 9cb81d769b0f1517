"""Glance v2's JSON for images and members (extra properties at the top level)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stateward.domain.image import Image, Member


def ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def image_view(image: Image) -> dict[str, Any]:
    view: dict[str, Any] = dict(image.properties)
    view.update(
        {
            "id": image.id,
            "name": image.name,
            "status": image.status,
            "visibility": image.visibility,
            "protected": image.protected,
            "os_hidden": image.os_hidden,
            "checksum": image.checksum,
            "os_hash_algo": image.os_hash_algo,
            "os_hash_value": image.os_hash_value,
            "owner": image.owner,
            "size": image.size,
            "virtual_size": image.virtual_size,
            "min_ram": image.min_ram,
            "min_disk": image.min_disk,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "tags": list(image.tags),
            "created_at": ts(image.created_at),
            "updated_at": ts(image.updated_at),
            "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image",
        }
    )
    return view


def member_view(member: Member) -> dict[str, Any]:
    return {
        "image_id": member.image_id,
        "member_id": member.member,
        "status": member.status,
        "created_at": ts(member.created_at),
        "updated_at": ts(member.updated_at),
        "schema": "/v2/schemas/member",
    }
