"""Nova's ``POST /servers``: validate the request, then one use case schedules and boots it.

Without a host the scheduler places the server; an admin may still name one (2.74's ``host``
or ``availability_zone: "nova:HOST"``). ``networks`` is a list of ``{uuid}``, ``{port}``
(and ``fixed_ip``), or ``"auto"``/``"none"`` (2.37).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from stateward.api.compute.common import bad, body, links, no_extra, object_body
from stateward.api.compute.server_metadata import metadata
from stateward.api.compute.versions import Microversion, requested_microversion
from stateward.api.deps import get_project_context, get_runtime, target
from stateward.domain.compute import BootRequest, NetworkRequest
from stateward.domain.identity import AuthContext
from stateward.identity.policy import register, rule
from stateward.runtime import Runtime

router = APIRouter(prefix="/compute/v2.1", tags=["compute"])

register(
    [
        rule("os_compute_api:servers:create", "rule:admin_or_member or rule:service"),
        rule(
            "compute:servers:create:requested_destination",
            "rule:admin_or_service",
            "Create a server on a named host (2.74 host / hypervisor_hostname).",
        ),
        rule(
            "os_compute_api:servers:create:forced_host",
            "rule:admin_or_service",
            "Create a server on a host with availability_zone 'nova:HOST'.",
        ),
    ]
)

# Accepted and not acted on: Stateward keeps no volumes, key pairs, user data or groups.
IGNORED = {
    "key_name",
    "security_groups",
    "user_data",
    "config_drive",
    "block_device_mapping",
    "block_device_mapping_v2",
    "adminPass",
    "OS-DCF:diskConfig",
    "accessIPv4",
    "accessIPv6",
    "personality",
    "return_reservation_id",
    "tags",
    "trusted_image_certificates",
    "hostname",
}


def _uuid(value: Any, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise bad(f"Invalid input for field/attribute {field}. Value: {value}. Bad network format")


def parse_networks(value: Any, mv: Microversion) -> list[NetworkRequest] | str | None:
    """Nova's ``networks``: a list of requests, or (2.37) the strings ``auto`` / ``none``."""
    if value is None:
        return None
    if isinstance(value, str):
        if value in ("auto", "none") and mv.at_least("2.37"):
            return value
        raise bad(f"Invalid input for field/attribute networks. Value: {value}.")
    if not isinstance(value, list):
        raise bad("Invalid input for field/attribute networks. Value must be a list.")
    requests = []
    for item in value:
        if not isinstance(item, dict):
            raise bad("Invalid input for field/attribute networks: entries are objects.")
        no_extra(item, {"uuid", "port", "fixed_ip", "tag"})
        if item.get("port"):
            requests.append(NetworkRequest(port_id=_uuid(item["port"], "port")))
            continue
        if not item.get("uuid"):
            raise bad("Bad networks format: network uuid is not in proper format ('')")
        fixed = item.get("fixed_ip")
        if fixed is not None and not isinstance(fixed, str):
            raise bad(f"Invalid input for field/attribute fixed_ip. Value: {fixed}.")
        requests.append(NetworkRequest(network_id=_uuid(item["uuid"], "uuid"), fixed_ip=fixed))
    return requests


def _ref(value: Any, field: str, *, required: bool) -> str:
    """An id, or a link ending with one (Nova's get_id_from_href)."""
    if value is None or value == "":
        if required:
            raise bad(
                f"Invalid input for field/attribute {field}. '{field}' is a required property"
            )
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad(f"Invalid input for field/attribute {field}. Value: {value}.")
    text = str(value)
    if len(text) > 255:
        raise bad(f"Invalid input for field/attribute {field}. Value: {text[:40]}...")
    return text.rstrip("/").rsplit("/", 1)[-1]


def _destination(
    body: dict[str, Any], runtime: Runtime, ctx: AuthContext, project: str
) -> tuple[str | None, str | None]:
    """(zone, host): ``availability_zone`` ``ZONE[:HOST]``, or 2.74's ``host``."""
    host: str | None = None
    zone: str | None = None
    az = body.get("availability_zone")
    if az is not None:
        if not isinstance(az, str) or not az or len(az) > 255:
            raise bad("Invalid input for field/attribute availability_zone.")
        name, _, rest = az.partition(":")
        zone = name or None
        if rest:
            runtime.policy.enforce(
                "os_compute_api:servers:create:forced_host", ctx, target(project)
            )
            host = rest.split(":", 1)[0] or None
    for key in ("host", "hypervisor_hostname"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > 255:
            raise bad(f"Invalid input for field/attribute {key}.")
        runtime.policy.enforce("compute:servers:create:requested_destination", ctx, target(project))
        if host is not None and host != value:
            raise bad(f"Invalid input: {key} '{value}' contradicts host '{host}'")
        host = value
    return zone, host


@router.post("/servers", status_code=202)
async def create_server(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> JSONResponse:
    mv = requested_microversion(request)
    server_body = object_body(
        await body(request), "server", also=("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")
    )
    allowed = {
        "name",
        "imageRef",
        "flavorRef",
        "availability_zone",
        "metadata",
        "min_count",
        "max_count",
        "networks",
        *IGNORED,
    }
    if mv.at_least("2.19"):
        allowed.add("description")
    if mv.at_least("2.74"):
        allowed |= {"host", "hypervisor_hostname"}
    no_extra(server_body, allowed)
    name = server_body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise bad("Invalid input for field/attribute name. 'name' is a required property")
    for key in ("min_count", "max_count"):
        if key in server_body and str(server_body[key]) != "1":
            raise bad(f"Invalid input for field/attribute {key}: one server per request")
    description = server_body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise bad("Invalid input for field/attribute description.")
    project = ctx.project_id
    assert project is not None
    runtime.policy.enforce("os_compute_api:servers:create", ctx, target(project))
    zone, host = _destination(server_body, runtime, ctx, project)
    boot = BootRequest(
        project_id=project,
        user_id=ctx.user_id,
        name=name,
        flavor_id=_ref(server_body.get("flavorRef"), "flavorRef", required=True),
        image_ref=_ref(server_body.get("imageRef"), "imageRef", required=False),
        zone=zone,
        host=host,
        description=description,
        metadata=metadata("metadata", server_body.get("metadata", {})),
        networks=parse_networks(server_body.get("networks"), mv),
        admin=ctx.is_admin,
    )
    server = await runtime.boot.create(boot)
    server_links = links(request, "servers", server.id)
    return JSONResponse(
        {
            "server": {
                "id": server.id,
                "links": server_links,
                "OS-DCF:diskConfig": "MANUAL",
                "security_groups": [{"name": "default"}],
                "adminPass": secrets.token_urlsafe(9),
            }
        },
        status_code=202,
        headers={"Location": server_links[0]["href"]},
    )
