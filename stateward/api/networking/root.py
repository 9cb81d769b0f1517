"""Neutron's discovery documents: the versions root, the v2.0 resources and the extensions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from stateward.api.deps import get_project_context
from stateward.api.urls import base_url
from stateward.domain.errors import NotFound
from stateward.domain.identity import AuthContext

router = APIRouter(prefix="/networking", tags=["networking"])

# The collections the v2.0 document lists (resources add themselves when installed).
COLLECTIONS: list[tuple[str, str]] = []

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


def _extension(alias: str, name: str, description: str) -> dict[str, Any]:
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "links": [],
        "updated": "2024-01-01T00:00:00-00:00",
    }


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
                "collection": collection,
                "links": [{"rel": "self", "href": f"{base}/{collection}"}],
            }
            for name, collection in COLLECTIONS
        ]
    }


@router.get("/v2.0/extensions")
async def extensions(ctx: AuthContext = Depends(get_project_context)) -> dict[str, Any]:
    return {"extensions": [_extension(*e) for e in EXTENSIONS]}


@router.get("/v2.0/extensions/{alias}")
async def extension(alias: str, ctx: AuthContext = Depends(get_project_context)) -> dict[str, Any]:
    for e in EXTENSIONS:
        if e[0] == alias:
            return {"extension": _extension(*e)}
    raise NotFound(f"Extension with alias {alias} does not exist", kind="ExtensionNotFound")
