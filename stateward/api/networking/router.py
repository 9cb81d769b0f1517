"""Neutron v2.0 routes. Each handler: authenticate, validate at the edge, check policy, call
one use case, shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

import stateward.api.networking.policies  # noqa: F401  (registers the rules)
from stateward.api.body import json_body, resource_body, validate_create, validate_update
from stateward.api.deps import ensure_visible, get_project_context, get_runtime, target, visible_to
from stateward.api.listing import (
    list_response,
    parse_list_query,
    select_fields,
    to_bool,
    to_int,
)
from stateward.api.networking.attributes import NETWORK, PORT, SUBNET
from stateward.api.urls import base_url
from stateward.domain.errors import Forbidden, NotFound
from stateward.domain.identity import AuthContext
from stateward.runtime import Runtime
from stateward.services.network import network_view, port_view, subnet_view

router = APIRouter(prefix="/networking", tags=["networking"])


@router.get("", include_in_schema=False)
@router.get("/")
async def versions(request: Request) -> dict[str, Any]:
    """Unversioned root: the versions document clients discover first."""
    href = f"{base_url(request)}/networking/v2.0/"
    return {
        "versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]
    }


@router.get("/v2.0")
@router.get("/v2.0/", include_in_schema=False)
async def resources(request: Request) -> dict[str, Any]:
    base = f"{base_url(request)}/networking/v2.0"
    return {
        "resources": [
            {
                "name": name,
                "collection": name + "s",
                "links": [{"rel": "self", "href": f"{base}/{name}s"}],
            }
            for name in ("network", "subnet", "port")
        ]
    }


EXTENSIONS = [
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("external-net", "Neutron external network", "Adds external network attribute to network"),
    (
        "data-plane-status",
        "Port data plane status extension",
        "Port data plane status (Doctor): ACTIVE, DOWN or null, set by admin or integrator",
    ),
    ("standard-attr-revisions", "Resource revision numbers", "Adds revision_number"),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at"),
    ("standard-attr-description", "standard-attr-description", "Adds description"),
    ("project-id", "project_id field enabled", "Extension that indicates project_id is enabled"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("agent", "agent", "The agent management extension."),
]


@router.get("/v2.0/extensions")
async def extensions(ctx: AuthContext = Depends(get_project_context)) -> dict[str, Any]:
    return {
        "extensions": [
            {
                "alias": a,
                "name": n,
                "description": d,
                "links": [],
                "updated": "2024-01-01T00:00:00-00:00",
            }
            for a, n, d in EXTENSIONS
        ]
    }


@router.get("/v2.0/extensions/{alias}")
async def extension(alias: str, ctx: AuthContext = Depends(get_project_context)) -> dict[str, Any]:
    for a, n, d in EXTENSIONS:
        if a == alias:
            return {
                "extension": {
                    "alias": a,
                    "name": n,
                    "description": d,
                    "links": [],
                    "updated": "2024-01-01T00:00:00-00:00",
                }
            }
    raise NotFound(f"Extension with alias {alias} does not exist", kind="ExtensionNotFound")


def body_schema(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a Neutron body, derived from its attribute map (clients and fuzzers see it)."""
    schema = {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "object", "properties": {name: {} for name in spec}}},
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def check_attribute_policies(
    runtime: Runtime,
    ctx: AuthContext,
    action: str,
    attrs: dict[str, Any],
    spec: dict[str, Any],
    tgt: dict[str, Any],
) -> None:
    runtime.policy.enforce(action, ctx, tgt)
    for name in attrs:
        attr = spec.get(name)
        if attr is not None and attr.policy:
            runtime.policy.enforce(f"{action}:{attr.policy}", ctx, tgt)


def owner_project(ctx: AuthContext, runtime: Runtime, attrs: dict[str, Any], action: str) -> str:
    """The project a new resource belongs to: the caller's, or another one an admin names."""
    requested = attrs.pop("project_id", None) or attrs.pop("tenant_id", None)
    attrs.pop("tenant_id", None)
    if requested and requested != ctx.project_id:
        runtime.policy.enforce(f"{action}:tenant_id", ctx, target(requested))
        return str(requested)
    assert ctx.project_id is not None
    return ctx.project_id


FilterSpec = dict[str, Callable[[str], Any]]

COMMON_FILTERS: FilterSpec = {
    "id": str,
    "name": str,
    "description": str,
    "tenant_id": str,
    "project_id": str,
    "revision_number": to_int,
}


# networks -------------------------------------------------------------------------------

NETWORK_FILTERS: FilterSpec = {
    **COMMON_FILTERS,
    "admin_state_up": to_bool,
    "status": str,
    "shared": to_bool,
    "router:external": to_bool,
    "mtu": to_int,
    "provider:network_type": str,
    "provider:physical_network": str,
    "provider:segmentation_id": to_int,
}


def _network_filters(filters: dict[str, list[Any]]) -> dict[str, list[Any]]:
    if "project_id" in filters and "tenant_id" in filters:
        filters.pop("tenant_id")
    return filters


@router.get("/v2.0/networks")
async def list_networks(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    query = parse_list_query(request, NETWORK_FILTERS)
    nets = await runtime.network.list_networks(
        _network_filters(query.filters),
        visible_to=visible_to(ctx),
        limit=query.limit,
        marker=query.marker,
    )
    return list_response(request, "networks", [network_view(n) for n in nets], query)


@router.post("/v2.0/networks", status_code=201, openapi_extra=body_schema("network", NETWORK))
async def create_network(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    attrs = validate_create(resource_body(await json_body(request), "network"), NETWORK)
    project = owner_project(ctx, runtime, attrs, "create_network")
    check_attribute_policies(runtime, ctx, "create_network", attrs, NETWORK, target(project))
    net = await runtime.network.create_network(project, attrs)
    return {"network": network_view(net)}


async def _visible_network(runtime: Runtime, ctx: AuthContext, network_id: str) -> Any:
    net = await runtime.network.get_network(network_id)
    ensure_visible(
        ctx,
        net.project_id,
        NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound"),
        shared=net.shared,
    )
    return net


@router.get("/v2.0/networks/{network_id}")
async def show_network(
    network_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    query = parse_list_query(request, {})
    net = await _visible_network(runtime, ctx, network_id)
    return {"network": select_fields(network_view(net), query.fields)}


@router.put("/v2.0/networks/{network_id}", openapi_extra=body_schema("network", NETWORK))
async def update_network(
    network_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    body = resource_body(await json_body(request), "network")
    net = await _visible_network(runtime, ctx, network_id)
    changes = validate_update(body, NETWORK, network_view(net))
    check_attribute_policies(
        runtime, ctx, "update_network", changes, NETWORK, target(net.project_id)
    )
    return {"network": network_view(await runtime.network.update_network(network_id, changes))}


@router.delete("/v2.0/networks/{network_id}", status_code=204)
async def delete_network(
    network_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    net = await _visible_network(runtime, ctx, network_id)
    runtime.policy.enforce("delete_network", ctx, target(net.project_id))
    await runtime.network.delete_network(network_id)
    return Response(status_code=204)


# subnets --------------------------------------------------------------------------------

SUBNET_FILTERS: FilterSpec = {
    **COMMON_FILTERS,
    "network_id": str,
    "cidr": str,
    "ip_version": to_int,
    "gateway_ip": str,
    "enable_dhcp": to_bool,
}


@router.get("/v2.0/subnets")
async def list_subnets(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    query = parse_list_query(request, SUBNET_FILTERS)
    subnets = await runtime.network.list_subnets(
        _network_filters(query.filters),
        visible_to=visible_to(ctx),
        limit=query.limit,
        marker=query.marker,
    )
    return list_response(request, "subnets", [subnet_view(s) for s in subnets], query)


@router.post("/v2.0/subnets", status_code=201, openapi_extra=body_schema("subnet", SUBNET))
async def create_subnet(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    attrs = validate_create(resource_body(await json_body(request), "subnet"), SUBNET)
    project = owner_project(ctx, runtime, attrs, "create_subnet")
    net = await _visible_network(runtime, ctx, attrs["network_id"])
    if net.project_id != project and not ctx.is_admin:
        raise NotFound(f"Network {net.id} could not be found.", kind="NetworkNotFound")
    check_attribute_policies(runtime, ctx, "create_subnet", attrs, SUBNET, target(project))
    return {"subnet": subnet_view(await runtime.network.create_subnet(project, attrs))}


async def _visible_subnet(runtime: Runtime, ctx: AuthContext, subnet_id: str) -> Any:
    subnet = await runtime.network.get_subnet(subnet_id)
    ensure_visible(
        ctx,
        subnet.project_id,
        NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound"),
    )
    return subnet


@router.get("/v2.0/subnets/{subnet_id}")
async def show_subnet(
    subnet_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    query = parse_list_query(request, {})
    subnet = await _visible_subnet(runtime, ctx, subnet_id)
    return {"subnet": select_fields(subnet_view(subnet), query.fields)}


@router.put("/v2.0/subnets/{subnet_id}", openapi_extra=body_schema("subnet", SUBNET))
async def update_subnet(
    subnet_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    body = resource_body(await json_body(request), "subnet")
    subnet = await _visible_subnet(runtime, ctx, subnet_id)
    changes = validate_update(body, SUBNET, subnet_view(subnet))
    check_attribute_policies(
        runtime, ctx, "update_subnet", changes, SUBNET, target(subnet.project_id)
    )
    return {"subnet": subnet_view(await runtime.network.update_subnet(subnet_id, changes))}


@router.delete("/v2.0/subnets/{subnet_id}", status_code=204)
async def delete_subnet(
    subnet_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    subnet = await _visible_subnet(runtime, ctx, subnet_id)
    runtime.policy.enforce("delete_subnet", ctx, target(subnet.project_id))
    await runtime.network.delete_subnet(subnet_id)
    return Response(status_code=204)


# ports ----------------------------------------------------------------------------------

PORT_FILTERS: FilterSpec = {
    **COMMON_FILTERS,
    "network_id": str,
    "mac_address": str,
    "status": str,
    "admin_state_up": to_bool,
    "device_id": str,
    "device_owner": str,
    "binding:host_id": str,
    "binding:vnic_type": str,
    "binding:vif_type": str,
    "data_plane_status": str,
}


def _fixed_ip_filters(request: Request) -> list[dict[str, str]]:
    result = []
    for raw in request.query_params.getlist("fixed_ips"):
        item = {}
        for part in raw.split("&"):
            key, _, value = part.partition("=")
            if key in ("subnet_id", "ip_address") and value:
                item[key] = value
        if item:
            result.append(item)
    return result


@router.get("/v2.0/ports")
async def list_ports(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    query = parse_list_query(request, PORT_FILTERS, ignored=("fixed_ips",))
    ports = await runtime.network.list_ports(
        _network_filters(query.filters),
        visible_to=visible_to(ctx),
        limit=query.limit,
        marker=query.marker,
        fixed_ip_filters=_fixed_ip_filters(request),
    )
    return list_response(request, "ports", [port_view(p) for p in ports], query)


@router.post("/v2.0/ports", status_code=201, openapi_extra=body_schema("port", PORT))
async def create_port(
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    attrs = validate_create(resource_body(await json_body(request), "port"), PORT)
    project = owner_project(ctx, runtime, attrs, "create_port")
    net = await _visible_network(runtime, ctx, attrs["network_id"])
    if net.project_id != project and not net.shared and not ctx.is_admin:
        raise NotFound(f"Network {net.id} could not be found.", kind="NetworkNotFound")
    check_attribute_policies(runtime, ctx, "create_port", attrs, PORT, target(project))
    return {"port": port_view(await runtime.network.create_port(project, attrs))}


async def _visible_port(runtime: Runtime, ctx: AuthContext, port_id: str) -> Any:
    port = await runtime.network.get_port(port_id)
    ensure_visible(
        ctx, port.project_id, NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
    )
    return port


@router.get("/v2.0/ports/{port_id}")
async def show_port(
    port_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    query = parse_list_query(request, {})
    port = await _visible_port(runtime, ctx, port_id)
    return {"port": select_fields(port_view(port), query.fields)}


@router.put("/v2.0/ports/{port_id}", openapi_extra=body_schema("port", PORT))
async def update_port(
    port_id: str,
    request: Request,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    body = resource_body(await json_body(request), "port")
    if ctx.is_admin or ctx.has_role("service") or ctx.has_role("data_plane_integrator"):
        port = await runtime.network.get_port(port_id)
    else:
        port = await _visible_port(runtime, ctx, port_id)
    changes = validate_update(body, PORT, port_view(port))
    if not ctx.is_admin and ctx.project_id != port.project_id:
        # A controller or integrator from another project may only report status.
        foreign = sorted(set(changes) - {"status", "data_plane_status"})
        if foreign:
            raise Forbidden(f"Policy doesn't allow update_port:{foreign[0]} to be performed.")
    check_attribute_policies(runtime, ctx, "update_port", changes, PORT, target(port.project_id))
    return {"port": port_view(await runtime.network.update_port(port_id, changes))}


@router.delete("/v2.0/ports/{port_id}", status_code=204)
async def delete_port(
    port_id: str,
    ctx: AuthContext = Depends(get_project_context),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    port = await _visible_port(runtime, ctx, port_id)
    runtime.policy.enforce("delete_port", ctx, target(port.project_id))
    await runtime.network.delete_port(port_id)
    return Response(status_code=204)
