"""Nova v2.1 at /compute: version discovery and microversion negotiation.

The compute resources live in the modules beside this one; this module owns what every
compute request shares: the version documents and the microversion header,
which ``MicroversionHeaders`` puts on every /compute response (errors included).

The maximum is the newest microversion whose changes Stateward implements faithfully for the
resources it serves (2.75: strict server list query parameters; 2.74 admin ``host`` on create;
2.73 ``locked_reason``; 2.53 uuid service ids; 2.47 embedded flavor; 2.16 ``host_status``;
2.11 ``forced_down``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stateward.api.urls import base_url
from stateward.domain.errors import DomainError

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 75)
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


def _header_version(headers: dict[bytes, bytes]) -> str:
    """The microversion a response is shaped for, as ``requested_microversion`` reads it."""
    raw = None
    header = headers.get(b"openstack-api-version", b"").decode("latin-1")
    for part in header.split(","):
        service, _, value = part.strip().partition(" ")
        if service.lower() == SERVICE:
            raw = value.strip()
    raw = raw or headers.get(b"x-openstack-nova-api-version", b"").decode("latin-1") or None
    if not raw:
        return ".".join(map(str, MIN_VERSION))
    if raw.lower() == "latest":
        return ".".join(map(str, MAX_VERSION))
    try:
        major, minor = (int(p) for p in raw.split("."))
    except ValueError:
        return ".".join(map(str, MIN_VERSION))
    if not MIN_VERSION <= (major, minor) <= MAX_VERSION:
        return ".".join(map(str, MIN_VERSION))
    return f"{major}.{minor}"


class MicroversionHeaders:
    """Adds ``OpenStack-API-Version: compute X.Y`` (and the legacy header) to /compute/v2.1."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/compute/v2.1"):
            await self.app(scope, receive, send)
            return
        version = _header_version(dict(scope.get("headers") or []))

        async def with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"openstack-api-version", b"vary")
                ]
                headers += [
                    (b"openstack-api-version", f"compute {version}".encode()),
                    (b"x-openstack-nova-api-version", version.encode()),
                    (b"vary", b"OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_version)
