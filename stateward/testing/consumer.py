"""A fault consumer (Doctor's "manager"): receives Aodh alarm webhooks, stamps T09/T10.

It plays the last role of the fault chain: an HTTP endpoint an alarm's ``alarm_actions`` point
at. For each webhook it

* stamps ``T09`` (received) the moment the request is read, with the trace from the
  ``X-Stateward-Trace`` header (the first alarm of each trace: a profile keeps a checkpoint's
  first time, and a log line per alarm would cost the receiver more than the alarm),
* "handles" the alarm (``handler``, by default: read the server id from the alarm's
  ``reason_data``, which is what a VNF manager does before it acts) and stamps ``T10``,
* answers 200, and posts ``T09``/``T10`` back to ``POST /v1/profiles/{trace}/checkpoints`` (once
  per trace: a profile keeps the first time of each checkpoint, so later alarms of the same
  fault would change nothing).

Its stamps are also written to its own log (``stateward.profiler.stamp``), so
``stateward profile import-log`` can merge them with the servers' logs without any post-back.

Plain asyncio streams (HTTP/1.1 with keep-alive), no framework: the receipt time is taken before
anything else happens to the request. Usable in-process (``Consumer``, the benchmark and the
demo) or as ``stateward consumer --port P``. ``PlainReceiver`` is the other kind: the few-line
``http.server`` receiver a user writes, one request at a time with a listen backlog of 5.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from stateward.profiler.stamp import stamp, trace_from_headers

log = logging.getLogger(__name__)

Handler = Callable[["Alarm"], Awaitable[None] | None]
TokenSource = Callable[[], str | None]


@dataclass
class Alarm:
    """One webhook as the consumer received it."""

    body: dict[str, Any]
    trace_id: str | None
    received: float  # epoch seconds (T09)
    handled: float = 0.0  # epoch seconds (T10)
    path: str = "/"

    @property
    def alarm_id(self) -> str:
        return str(self.body.get("alarm_id", ""))

    @property
    def alarm_name(self) -> str:
        return str(self.body.get("alarm_name", ""))

    @property
    def instance_id(self) -> str | None:
        data = self.body.get("reason_data") or {}
        event = data.get("event") if isinstance(data, dict) else None
        traits = event.get("traits") if isinstance(event, dict) else None
        if isinstance(traits, dict) and traits.get("instance_id"):
            return str(traits["instance_id"])
        if isinstance(traits, list):  # Aodh's [[name, type, value], ...]
            for item in traits:
                if isinstance(item, list | tuple) and len(item) == 3 and item[0] == "instance_id":
                    return str(item[2])
        return None


@dataclass
class Consumer:
    """An asyncio webhook receiver; ``received`` is every alarm, in arrival order."""

    server_url: str | None = None  # where to post T09/T10 back (None: log only)
    token: TokenSource | None = None
    handler: Handler | None = None
    host: str = "127.0.0.1"
    port: int = 0
    post_back: bool = True
    name: str = "consumer"
    received: list[Alarm] = field(default_factory=list)
    posted: dict[str, int] = field(default_factory=dict)  # trace id -> HTTP status
    _server: asyncio.Server | None = None
    _client: httpx.AsyncClient | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _first: dict[str, Alarm] = field(default_factory=dict)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/alarm"

    async def start(self) -> None:
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.server_url and self.post_back:
            self._client = httpx.AsyncClient(base_url=self.server_url, timeout=10)

    async def stop(self) -> None:
        await self.drain()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):  # idle keep-alive connections end cleanly
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Consumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def drain(self) -> None:
        """Wait for the post-backs in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def clear(self) -> None:
        self.received.clear()

    async def wait_for(
        self, predicate: Callable[[list[Alarm]], bool], timeout: float = 30.0
    ) -> list[Alarm]:
        """Wait until ``predicate(received)`` holds (TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"consumer: {len(self.received)} alarm(s) received")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
        return list(self.received)

    # HTTP ---------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                received = time.time_ns() / 1e9
                method, _, rest = line.decode("latin-1").partition(" ")
                path = rest.split(" ", 1)[0]
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    key, _, value = h.decode("latin-1").partition(":")
                    headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                raw = await reader.readexactly(length) if length else b""
                status = await self._request(method, path, headers, raw, received)
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                    "Content-Length: 0\r\n\r\n".encode()
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _request(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, received: float
    ) -> int:
        if method == "GET":
            return 200  # a liveness probe
        if method != "POST":
            return 405
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400
        if not isinstance(body, dict):
            return 400
        trace = trace_from_headers(headers)
        alarm = Alarm(body, trace.trace_id if trace else None, received, path=path)
        # a profile keeps the first time of each checkpoint: the fault's first alarm is stamped
        first = trace is not None and trace.trace_id not in self._first
        if first:
            stamp(trace, "T09", t=received, alarm_id=alarm.alarm_id, process=self.name)
        if self.handler is not None:
            result = self.handler(alarm)
            if result is not None:
                await result
        else:
            alarm.instance_id  # noqa: B018 - what a manager reads before it acts
        alarm.handled = time.time_ns() / 1e9
        self.received.append(alarm)
        self._changed.set()
        if first and trace is not None:
            stamp(trace, "T10", t=alarm.handled, alarm_id=alarm.alarm_id, process=self.name)
            self._first[trace.trace_id] = alarm
            if self._client is not None:
                task = asyncio.create_task(self._post_back(alarm))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return 200

    async def _post_back(self, alarm: Alarm) -> None:
        assert self._client is not None and alarm.trace_id
        headers = {}
        token = self.token() if self.token else None
        if token:
            headers["X-Auth-Token"] = token
        body = {
            "checkpoints": {"T09": alarm.received, "T10": alarm.handled},
            "process": self.name,
            "meta": {"alarm_id": alarm.alarm_id},
        }
        try:
            r = await self._client.post(
                f"/v1/profiles/{alarm.trace_id}/checkpoints", json=body, headers=headers
            )
            self.posted[alarm.trace_id] = r.status_code
            if r.status_code >= 400:
                log.warning(
                    "consumer could not post checkpoints",
                    extra={"trace_id": alarm.trace_id, "status": r.status_code, "body": r.text},
                )
        except httpx.HTTPError as exc:
            self.posted[alarm.trace_id] = 0
            log.warning(
                "consumer could not post checkpoints",
                extra={"trace_id": alarm.trace_id, "error": str(exc)},
            )


class PlainReceiver:
    """The webhook receiver people write in a few lines: Python's ``http.server``, one request
    at a time on one thread, HTTP/1.0 (a connection per request), the default listen backlog
    of 5. A notifier that opens dozens of connections at once overflows it; this is what the
    adaptive delivery is measured and tested against. Same reading interface as ``Consumer``
    (``received``, ``wait_for``, ``clear``); no profile post-back.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, status: int = 200) -> None:
        import http.server
        import threading

        self.status = status
        self.received: list[Alarm] = []
        self.connections = 0  # TCP connections accepted
        self.by_notification: dict[str, int] = {}  # X-Stateward-Notification-Id -> deliveries
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def setup(self) -> None:
                receiver.connections += 1
                super().setup()

            def do_POST(self) -> None:
                received = time.time_ns() / 1e9
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                trace = trace_from_headers({k.lower(): v for k, v in self.headers.items()})
                alarm = Alarm(
                    body if isinstance(body, dict) else {},
                    trace.trace_id if trace else None,
                    received,
                    path=self.path,
                )
                alarm.handled = time.time_ns() / 1e9
                notification = self.headers.get("X-Stateward-Notification-Id")
                if notification:
                    seen = receiver.by_notification.get(notification, 0)
                    receiver.by_notification[notification] = seen + 1
                receiver.received.append(alarm)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = http.server.HTTPServer((host, port), Handler)  # backlog 5, one thread
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/alarm"

    async def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        await asyncio.to_thread(self._server.shutdown)
        self._server.server_close()

    async def drain(self) -> None:
        return None

    def clear(self) -> None:
        self.received.clear()

    async def wait_for(
        self, predicate: Callable[[list[Alarm]], bool], timeout: float = 30.0
    ) -> list[Alarm]:
        deadline = time.monotonic() + timeout
        while not predicate(list(self.received)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver: {len(self.received)} alarm(s) received")
            await asyncio.sleep(0.005)
        return list(self.received)
