"""Glance's version discovery and JSON schemas (glanceclient builds its models from them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from stateward.api.deps import get_context
from stateward.api.urls import base_url
from stateward.domain import image as rules
from stateward.domain.identity import AuthContext

router = APIRouter(prefix="/image", tags=["image"])

# Glance's API versions; Stateward implements the v2 image and member calls of 2.16.
VERSIONS = (
    ("v2.16", "CURRENT"),
    ("v2.15", "SUPPORTED"),
    ("v2.9", "SUPPORTED"),
    ("v2.0", "SUPPORTED"),
)


def _versions(request: Request) -> dict[str, Any]:
    href = f"{base_url(request)}/image/v2/"
    return {
        "versions": [
            {"id": vid, "status": status, "links": [{"rel": "self", "href": href}]}
            for vid, status in VERSIONS
        ]
    }


@router.get("", include_in_schema=False)
@router.get("/")
async def versions(request: Request) -> JSONResponse:
    """The unversioned root answers 300 Multiple Choices, as Glance does."""
    return JSONResponse(_versions(request), status_code=300)


@router.get("/versions")
async def versions_list(request: Request) -> dict[str, Any]:
    return _versions(request)


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", kind], **extra}


IMAGE_PROPERTIES: dict[str, Any] = {
    "id": {
        "type": "string",
        "description": "An identifier for the image",
        "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-"
        "([0-9a-fA-F]){12}$",
    },
    "name": _nullable("string", maxLength=255, description="Descriptive name for the image"),
    "status": {"type": "string", "readOnly": True, "enum": list(rules.STATUSES)},
    "visibility": {"type": "string", "enum": list(rules.VISIBILITIES)},
    "protected": {"type": "boolean"},
    "os_hidden": {"type": "boolean"},
    "checksum": _nullable("string", readOnly=True, maxLength=32),
    "os_hash_algo": _nullable("string", readOnly=True, maxLength=64),
    "os_hash_value": _nullable("string", readOnly=True, maxLength=128),
    "owner": _nullable("string", maxLength=255),
    "size": _nullable("integer", readOnly=True),
    "virtual_size": _nullable("integer", readOnly=True),
    "container_format": {"type": ["null", "string"], "enum": [None, *rules.CONTAINER_FORMATS]},
    "disk_format": {"type": ["null", "string"], "enum": [None, *rules.DISK_FORMATS]},
    "created_at": {"type": "string", "readOnly": True},
    "updated_at": {"type": "string", "readOnly": True},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
    "direct_url": {"type": "string", "readOnly": True},
    "min_ram": {"type": "integer"},
    "min_disk": {"type": "integer"},
    "self": {"type": "string", "readOnly": True},
    "file": {"type": "string", "readOnly": True},
    "stores": {"type": "string", "readOnly": True},
    "schema": {"type": "string", "readOnly": True},
    "locations": {"type": "array", "items": {"type": "object"}},
}

IMAGE_SCHEMA: dict[str, Any] = {
    "name": "image",
    "properties": IMAGE_PROPERTIES,
    "additionalProperties": {"type": "string"},
    "links": [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ],
}

MEMBER_SCHEMA: dict[str, Any] = {
    "name": "member",
    "properties": {
        "created_at": {"type": "string"},
        "image_id": {"type": "string"},
        "member_id": {"type": "string"},
        "schema": {"type": "string", "readOnly": True},
        "status": {"type": "string", "enum": list(rules.MEMBER_STATUSES)},
        "updated_at": {"type": "string"},
    },
}


def _collection(name: str, item: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            key: {"type": "array", "items": item},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


@router.get("/v2/schemas/image")
async def image_schema(ctx: AuthContext = Depends(get_context)) -> dict[str, Any]:
    return IMAGE_SCHEMA


@router.get("/v2/schemas/images")
async def images_schema(ctx: AuthContext = Depends(get_context)) -> dict[str, Any]:
    return _collection("images", IMAGE_SCHEMA, "images")


@router.get("/v2/schemas/member")
async def member_schema(ctx: AuthContext = Depends(get_context)) -> dict[str, Any]:
    return MEMBER_SCHEMA


@router.get("/v2/schemas/members")
async def members_schema(ctx: AuthContext = Depends(get_context)) -> dict[str, Any]:
    return _collection("members", MEMBER_SCHEMA, "members")


@router.get("/v2/info/import")
async def import_info(ctx: AuthContext = Depends(get_context)) -> dict[str, Any]:
    """Interoperable image import is not offered: upload with PUT .../file."""
    return {
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": [],
        }
    }
