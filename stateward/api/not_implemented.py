"""Answers for the parts of the OpenStack APIs Stateward does not implement.

A request under a service's prefix that no route serves gets, in that service's own error
shape, a sentence naming the resource and saying this server does not implement it — so the
``openstack`` CLI prints that sentence and exits non-zero, instead of a bare ``404 Not Found``
(or, for ``floating ip list``, an empty list). A path some route serves with other methods gets
405 with ``Allow``.

``install`` must run after every router is included: the catch-alls match any path under their
prefix, and Starlette takes the first route that matches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import fastapi.routing
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import compile_path

from stateward.api.errors import error_body

NOT_IMPLEMENTED = 501
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


@dataclass(frozen=True)
class Service:
    prefix: str  # where the service lives on Stateward
    api: str  # its name in the sentence
    kind: str  # the error type Neutron-style bodies carry


SERVICES = (
    Service("/networking", "Networking (Neutron)", "ResourceNotImplemented"),
    Service("/compute", "Compute (Nova)", "NotImplemented"),
    Service("/identity", "Identity (Keystone)", "NotImplemented"),
    Service("/image", "Image (Glance)", "NotImplemented"),
    Service("/v2", "Alarming (Aodh)", "NotImplemented"),
)

_VERSIONS = {"v2.0", "v2.1", "v3", "v2"}


def resource_of(service: Service, path: str) -> str:
    """``/networking/v2.0/routers/1`` -> ``routers``; ``/v2/capabilities`` -> ``capabilities``."""
    parts = [p for p in path[len(service.prefix) :].split("/") if p]
    if parts and parts[0] in _VERSIONS and service.prefix != "/v2":
        parts = parts[1:]
    return parts[0] if parts else path


def _body(service: Service, path: str, status: int, message: str) -> dict[str, object]:
    if service.prefix == "/image":
        # Glance answers with webob's JSON error: message, code and title.
        title = "Not Implemented" if status == NOT_IMPLEMENTED else "Method Not Allowed"
        return {"message": message, "code": f"{status} {title}", "title": title}
    return error_body(path, status, message, service.kind if status == NOT_IMPLEMENTED else None)


def registered_routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    """Every route's full path template and methods (FastAPI may include routers lazily)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(contexts(app.router.routes)) if contexts else list(app.router.routes)
    found = []
    for route in routes:
        path = getattr(route, "path", None)
        if path is None or getattr(route, "_stateward_catch_all", False):
            continue
        if getattr(getattr(route, "original_route", route), "_stateward_catch_all", False):
            continue
        found.append((str(path), set(getattr(route, "methods", None) or ())))
    return found


def _allowed(app: FastAPI, path: str) -> list[str]:
    """Methods other routes serve for this path (the 405 case)."""
    allowed: set[str] = set()
    for template, methods in registered_routes(app):
        if methods and compile_path(template)[0].match(path):
            allowed.update(methods)
    return sorted(allowed)


def _handler(app: FastAPI, service: Service) -> Callable[[Request], Awaitable[Response]]:
    async def not_implemented(request: Request) -> Response:
        path = request.url.path
        allowed = _allowed(app, path)
        if allowed:
            message = f"The method {request.method} is not allowed for {path}."
            return JSONResponse(
                _body(service, path, 405, message),
                status_code=405,
                headers={"Allow": ", ".join(allowed)},
            )
        resource = resource_of(service, path)
        message = (
            f"This server (Stateward) does not implement the {service.api} API's "
            f"'{resource}' resource ({request.method} {path})."
        )
        return JSONResponse(_body(service, path, NOT_IMPLEMENTED, message), status_code=501)

    return not_implemented


def install(app: FastAPI) -> None:
    """Add one catch-all per service prefix, after every route already registered."""
    for service in SERVICES:
        app.add_api_route(
            f"{service.prefix}/{{rest:path}}",
            _handler(app, service),
            methods=METHODS,
            include_in_schema=False,
        )
        app.router.routes[-1]._stateward_catch_all = True  # type: ignore[attr-defined]
