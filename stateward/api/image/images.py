"""Glance v2 images: create/list/show/update (JSON patch)/delete, tags, data upload/download."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

import stateward.api.image.policies  # noqa: F401  (registers the rules)
from stateward.api.body import json_body
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.api.image.views import image_view
from stateward.domain import image as rules
from stateward.domain.errors import DomainError, InvalidInput, NotFound
from stateward.domain.identity import AuthContext
from stateward.runtime import Runtime
from stateward.services.images import Caller, NoData

router = APIRouter(prefix="/image/v2", tags=["image"])

PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)


class UnsupportedMediaType(DomainError):
    status = 415
    kind = "UnsupportedMediaType"


DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
# Query parameters with a meaning of their own; any other is an extra-property filter.
LIST_KEYS = {
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "sort",
    "visibility",
    "member_status",
    "tag",
    "name",
    "id",
    "owner",
    "status",
    "container_format",
    "disk_format",
    "protected",
    "os_hidden",
    "size_min",
    "size_max",
    "created_at",
    "updated_at",
}
SORTABLE = {
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
    "visibility",
    "owner",
    "min_ram",
    "min_disk",
}


def _bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise InvalidInput(f"Invalid value '{value}' for parameter '{key}': expected a boolean")
    return lowered == "true"


def _int(key: str, value: str, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{key} param must be an integer")
    if not minimum <= number <= maximum:
        raise InvalidInput(f"{key} param must be between {minimum} and {maximum}")
    return number


def _in(value: str) -> str | list[str]:
    """``in:a,b`` is a list filter (Glance's operator syntax); anything else is equality."""
    if value.startswith("in:"):
        return [v.strip('"') for v in value[3:].split(",") if v]
    return value


def _sort(request: Request) -> list[tuple[str, str]]:
    params = request.query_params
    pairs: list[tuple[str, str]] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise InvalidInput("The 'sort' parameter cannot be used with 'sort_key'/'sort_dir'.")
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        keys = params.getlist("sort_key") or ["created_at"]
        dirs = params.getlist("sort_dir") or ["desc"]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise InvalidInput("Number of sort dirs does not match the number of sort keys")
        pairs = [(k, dirs[i] if len(dirs) > 1 else dirs[0]) for i, k in enumerate(keys)]
    for key, direction in pairs:
        if key not in SORTABLE:
            raise InvalidInput(f"Invalid sort key: {key}. It should be one of {sorted(SORTABLE)}.")
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"Invalid sort direction: {direction}")
    return pairs


def _query(request: Request) -> dict[str, Any]:
    params = request.query_params
    filters: dict[str, Any] = {}
    for key in ("name", "id", "owner", "status", "container_format", "disk_format"):
        if key in params:
            filters[key] = _in(params[key])
    for key in ("protected", "os_hidden"):
        if key in params:
            filters[key] = _bool(key, params[key])
    for key in ("size_min", "size_max"):
        if key in params:
            filters[key] = _int(key, params[key])
    if "os_hidden" not in filters:
        filters["os_hidden"] = False  # hidden images are listed only when asked for
    visibility = params.get("visibility")
    if visibility is not None and visibility not in (*rules.VISIBILITIES, "all"):
        raise InvalidInput(f"Invalid visibility value: {visibility}")
    member_status = params.get("member_status", "accepted")
    if member_status not in (*rules.MEMBER_STATUSES, "all"):
        raise InvalidInput(f"Invalid status value: {member_status}")
    properties = {k: v for k, v in params.items() if k not in LIST_KEYS}
    limit = _int("limit", params["limit"], 0, MAX_LIMIT) if "limit" in params else DEFAULT_LIMIT
    return {
        "visibility": visibility,
        "member_status": member_status,
        "filters": filters,
        "properties": properties,
        "tags": params.getlist("tag"),
        "sort": _sort(request),
        "limit": limit,
        "marker": params.get("marker"),
    }


@router.get("/images")
async def list_images(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    runtime.policy.enforce("get_images", ctx, target(ctx.project_id))
    query = _query(request)
    images = await runtime.images.list(Caller.of(ctx), **query)
    body: dict[str, Any] = {
        "images": [image_view(i) for i in images],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if images and len(images) == query["limit"]:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
        params.append(("marker", images[-1].id))
        body["next"] = f"/v2/images?{urlencode(params)}"
    return body


@router.post("/images", status_code=201)
async def create_image(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> JSONResponse:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("Provided object does not match schema 'image': not an object")
    runtime.policy.enforce("add_image", ctx, target(ctx.project_id))
    image = await runtime.images.create(body, Caller.of(ctx))
    return JSONResponse(
        image_view(image), status_code=201, headers={"Location": f"/v2/images/{image.id}"}
    )


@router.get("/images/{image_id}")
async def show_image(
    image_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    image = await runtime.images.get(image_id, Caller.of(ctx))
    runtime.policy.enforce("get_image", ctx, target(ctx.project_id))
    return image_view(image)


@router.patch("/images/{image_id}")
async def update_image(
    image_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in PATCH_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {content_type or '(none)'}; use {PATCH_TYPES[0]}"
        )
    operations = await json_body(request)
    runtime.policy.enforce("modify_image", ctx, target(ctx.project_id))
    return image_view(await runtime.images.update(image_id, operations, Caller.of(ctx)))


@router.delete("/images/{image_id}", status_code=204)
async def delete_image(
    image_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("delete_image", ctx, target(ctx.project_id))
    await runtime.images.delete(image_id, Caller.of(ctx))
    return Response(status_code=204)


@router.put("/images/{image_id}/tags/{tag}", status_code=204)
async def add_tag(
    image_id: str,
    tag: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("modify_image", ctx, target(ctx.project_id))
    await runtime.images.tag(image_id, tag, Caller.of(ctx), add=True)
    return Response(status_code=204)


@router.delete("/images/{image_id}/tags/{tag}", status_code=204)
async def delete_tag(
    image_id: str,
    tag: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("modify_image", ctx, target(ctx.project_id))
    await runtime.images.tag(image_id, tag, Caller.of(ctx), add=False)
    return Response(status_code=204)


@router.post("/images/{image_id}/actions/{action}", status_code=204)
async def image_action(
    image_id: str,
    action: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    if action not in ("deactivate", "reactivate"):
        raise NotFound(f"Unknown action {action}")
    runtime.policy.enforce(action, ctx, target(ctx.project_id))
    await runtime.images.set_active(image_id, action == "reactivate", Caller.of(ctx))
    return Response(status_code=204)


# data ------------------------------------------------------------------------------------------


@router.put("/images/{image_id}/file", status_code=204)
async def upload(
    image_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in ("application/octet-stream", ""):
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {content_type}; use application/octet-stream"
        )
    runtime.policy.enforce("upload_image", ctx, target(ctx.project_id))

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            yield chunk

    await runtime.images.upload(image_id, body(), Caller.of(ctx))
    return Response(status_code=204)


@router.get("/images/{image_id}/file")
async def download(
    image_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    runtime.policy.enforce("download_image", ctx, target(ctx.project_id))
    try:
        image, data = await runtime.images.download(image_id, Caller.of(ctx))
    except NoData:
        return Response(status_code=204)
    headers = {"Content-Length": str(image.size)}
    if image.checksum:
        headers["Content-MD5"] = image.checksum
    return StreamingResponse(data, media_type="application/octet-stream", headers=headers)
