"""Nova's server metadata (the key/value pairs on a server; the seed's HA policy lives here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.compute.common import bad as _bad
from stateward.api.compute.common import body as _body
from stateward.api.compute.common import object_body as _object
from stateward.api.compute.server_views import visible_server as _visible_server
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain.compute import Server
from stateward.domain.errors import NotFound
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:server-metadata:index", "rule:admin_or_reader"),
        rule("os_compute_api:server-metadata:show", "rule:admin_or_reader"),
        rule("os_compute_api:server-metadata:create", "rule:admin_or_member"),
        rule("os_compute_api:server-metadata:update", "rule:admin_or_member"),
        rule("os_compute_api:server-metadata:update_all", "rule:admin_or_member"),
        rule("os_compute_api:server-metadata:delete", "rule:admin_or_member"),
    ]
)


def metadata(name: str, value: Any) -> dict[str, str]:
    """Nova's metadata schema: 1-255 character keys, string values of at most 255."""
    if not isinstance(value, dict):
        raise _bad(f"Invalid input for field/attribute {name}. Value: {value}. is not an object")
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            raise _bad(f"Invalid input for field/attribute {name}: keys are 1-255 characters")
        if not isinstance(item, str) or len(item) > 255:
            raise _bad(
                f"Invalid input for field/attribute {name}.{key}: values are strings of "
                f"at most 255 characters"
            )
    return dict(value)


async def _meta_server(runtime: Runtime, ctx: AuthContext, server_id: str, action: str) -> Server:
    server = await _visible_server(runtime, ctx, server_id)
    runtime.policy.enforce(
        f"os_compute_api:server-metadata:{action}", ctx, target(server.project_id)
    )
    return server


@router.get("/servers/{server_id}/metadata")
async def getmetadata(
    server_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    server = await _meta_server(runtime, ctx, server_id, "index")
    return {"metadata": dict(server.metadata)}


@router.post("/servers/{server_id}/metadata")
async def mergemetadata(
    server_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    items = metadata("metadata", _object(await _body(request), "metadata"))
    await _meta_server(runtime, ctx, server_id, "create")
    server = await runtime.compute.set_metadata(server_id, items)
    return {"metadata": dict(server.metadata)}


@router.put("/servers/{server_id}/metadata")
async def replacemetadata(
    server_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    items = metadata("metadata", _object(await _body(request), "metadata"))
    await _meta_server(runtime, ctx, server_id, "update_all")
    server = await runtime.compute.set_metadata(server_id, items, replace=True)
    return {"metadata": dict(server.metadata)}


@router.get("/servers/{server_id}/metadata/{key}")
async def get_metadata_item(
    server_id: str,
    key: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    server = await _meta_server(runtime, ctx, server_id, "show")
    if key not in server.metadata:
        raise NotFound("Metadata item was not found")
    return {"meta": {key: server.metadata[key]}}


@router.put("/servers/{server_id}/metadata/{key}")
async def set_metadata_item(
    server_id: str,
    key: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    meta = metadata("meta", _object(await _body(request), "meta"))
    if len(meta) != 1:
        raise _bad("Request body contains too many items")
    if key not in meta:
        raise _bad("Request body and URI mismatch")
    await _meta_server(runtime, ctx, server_id, "update")
    await runtime.compute.set_metadata(server_id, meta)
    return {"meta": meta}


@router.delete("/servers/{server_id}/metadata/{key}", status_code=204)
async def delete_metadata_item(
    server_id: str,
    key: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    await _meta_server(runtime, ctx, server_id, "delete")
    await runtime.compute.delete_metadata_key(server_id, key)
    return Response(status_code=204)
