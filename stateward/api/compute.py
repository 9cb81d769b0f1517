"""Nova v2.1 at /compute: version discovery and microversion negotiation.

The compute resources (services, servers) are added by the host-fault feature; this module
owns what every compute request shares: the version documents and the microversion header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from stateward.api.urls import base_url
from stateward.domain.errors import DomainError

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)
SERVICE = "compute"

router = APIRouter(prefix="/compute", tags=["compute"])


class VersionNotAcceptable(DomainError):
    status = 406
    kind = "NotAcceptable"


@dataclass(frozen=True, order=True)
class Microversion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, text: str) -> bool:
        major, minor = (int(p) for p in text.split("."))
        return (self.major, self.minor) >= (major, minor)


def requested_microversion(request: Request) -> Microversion:
    """Parse ``OpenStack-API-Version: compute X.Y`` (or the legacy header); default 2.1."""
    raw = None
    header = request.headers.get("openstack-api-version")
    if header:
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == SERVICE:
                raw = value.strip()
    raw = raw or request.headers.get("x-openstack-nova-api-version")
    if not raw:
        return Microversion(*MIN_VERSION)
    if raw.lower() == "latest":
        return Microversion(*MAX_VERSION)
    try:
        major, minor = (int(p) for p in raw.split("."))
    except ValueError:
        raise DomainError(f"Invalid API version request string {raw}", kind="BadRequest")
    version = Microversion(major, minor)
    if not Microversion(*MIN_VERSION) <= version <= Microversion(*MAX_VERSION):
        raise VersionNotAcceptable(
            f"Version {raw} is not supported by the API. Minimum is "
            f"{'.'.join(map(str, MIN_VERSION))} and maximum is {'.'.join(map(str, MAX_VERSION))}."
        )
    return version


def version_doc(request: Request) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "updated": "2013-07-23T11:33:21Z",
        "version": ".".join(map(str, MAX_VERSION)),
        "min_version": ".".join(map(str, MIN_VERSION)),
        "links": [{"rel": "self", "href": f"{base_url(request)}/compute/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


@router.get("", include_in_schema=False)
@router.get("/")
async def versions(request: Request) -> dict[str, Any]:
    return {"versions": [version_doc(request)]}


@router.get("/v2.1")
@router.get("/v2.1/", include_in_schema=False)
async def version(request: Request) -> JSONResponse:
    mv = requested_microversion(request)
    return JSONResponse(
        {"version": version_doc(request)},
        headers={"OpenStack-API-Version": f"compute {mv}", "Vary": "OpenStack-API-Version"},
    )
