"""One ASGI middleware for what every request needs: an id, a size limit, a log line, metrics."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stateward.api.errors import error_body

log = logging.getLogger("stateward.api.access")

REQUESTS = Counter("stateward_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "stateward_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


# Bodies streamed to a store with their own size cap (image data), not held in memory.
STREAMED = re.compile(r"^/image/v2/images/[^/]+/file$")


class _TooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req-" + str(uuid.uuid4())
        started = time.perf_counter()
        status = 500
        path = scope["path"]
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        limit: int | None = self.max_body_bytes
        if scope["method"] == "PUT" and STREAMED.match(path):
            limit = None
        if (
            limit is not None
            and declared is not None
            and declared.isdigit()
            and int(declared) > limit
        ):
            await self._reject(scope, send, request_id)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and limit is not None:
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-openstack-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _TooLarge:
            await self._reject(scope, send, request_id)
            status = 413
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "request_id": request_id,
                    "ms": round(elapsed * 1000, 2),
                },
            )

    async def _reject(self, scope: Scope, send: Send, request_id: str) -> None:
        body = json.dumps(error_body(scope["path"], 413, "Request entity too large")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"x-openstack-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
