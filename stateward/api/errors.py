"""Errors in each OpenStack service's own shape, chosen by the path they were raised under."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stateward.domain.errors import DomainError

log = logging.getLogger(__name__)

NOVA_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
}


def error_body(path: str, status: int, message: str, kind: str | None = None) -> dict[str, object]:
    title = HTTPStatus(status).phrase
    if path.startswith("/networking"):
        return {
            "NeutronError": {
                "type": kind or title.replace(" ", ""),
                "message": message,
                "detail": "",
            }
        }
    if path.startswith("/compute"):
        return {NOVA_KEYS.get(status, "computeFault"): {"code": status, "message": message}}
    if path.startswith("/image"):
        # webob's JSON error body, which Glance's clients read
        return {"message": message, "code": f"{status} {title}", "title": title}
    if path.startswith("/v2"):
        return {
            "error_message": {
                "faultcode": "Client" if status < 500 else "Server",
                "faultstring": message,
                "debuginfo": None,
            }
        }
    return {"error": {"code": status, "title": title, "message": message}}


def error_response(
    request: Request, status: int, message: str, kind: str | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Keystone uri="/identity"'} if status == 401 else None
    return JSONResponse(
        error_body(request.url.path, status, message, kind), status_code=status, headers=headers
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) if loc else "request body"
        parts.append(f"{where}: {err.get('msg')}")
    return "Invalid input: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(request, exc.status, exc.message, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 400, _validation_message(exc), "HTTPBadRequest")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        response = error_response(request, exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(
            request,
            500,
            "The server has either erred or is incapable of performing the requested operation.",
        )
