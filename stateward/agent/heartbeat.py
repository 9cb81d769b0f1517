"""The chassis agent's heartbeat: register, then report every ``report_interval``.

The server tells the agent its ``report_interval`` at registration. Reports carry the local
services' status when it changed (and every ``FULL_EVERY`` reports); a service changing state is
reported at once. When the server cannot be reached the agent retries with capped exponential
backoff, and since every report is built at send time only the latest state is ever resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any

import httpx

from stateward.agent.client import AuthError, ServerClient
from stateward.agent.process import ProcessMonitor
from stateward.bus.base import Bus
from stateward.services.liveness import HEARTBEAT_SUBJECT

log = logging.getLogger(__name__)

FULL_EVERY = 10


class RegistrationRefused(Exception):
    """The server answered 4xx to the registration (not retried)."""


class ChassisAgent:
    def __init__(
        self,
        *,
        chassis: str,
        local_ip: str,
        client: ServerClient,
        monitor: ProcessMonitor,
        tunnel_types: list[str],
        bus: Bus | None = None,
        report_interval: float | None = None,
        jitter: float = 0.1,
        max_backoff: float = 5.0,
        external_ids: dict[str, str] | None = None,
    ) -> None:
        self.chassis = chassis
        self.external_ids = external_ids
        self.local_ip = local_ip
        self.client = client
        self.monitor = monitor
        monitor.on_change = self._service_changed
        self.tunnel_types = tunnel_types
        self.bus = bus
        self.requested_interval = report_interval
        self.report_interval = report_interval or 30.0
        self.jitter = jitter
        self.max_backoff = max_backoff
        self._changed = asyncio.Event()
        self._sent_services: dict[str, Any] | None = None
        self._reports = 0
        self.registered = asyncio.Event()

    def _service_changed(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        await self.monitor.start()
        try:
            await self._register_until_done()
            await self._report_loop()
        finally:
            await self.monitor.stop()

    def _backoff(self, failures: int) -> float:
        cap = min(self.max_backoff, max(self.report_interval, 0.05))
        return min(cap, 0.05 * 2**failures) * random.uniform(0.75, 1.0)

    async def _register_until_done(self) -> None:
        failures = 0
        while True:
            try:
                await self.register()
                return
            except (httpx.HTTPError, OSError) as exc:
                failures += 1
                delay = self._backoff(failures)
                log.warning(
                    "registration failed; retrying",
                    extra={"error": repr(exc), "retry_in": round(delay, 3)},
                )
                await asyncio.sleep(delay)

    async def register(self) -> None:
        body: dict[str, Any] = {
            "ip": self.local_ip,
            "tunnel_types": self.tunnel_types,
            "services": self.monitor.statuses(),
        }
        if self.requested_interval is not None:
            body["report_interval"] = self.requested_interval
        if self.external_ids is not None:
            body["external_ids"] = self.external_ids
        response = await self.client.request(
            "PUT", f"/v1/chassis/{self.chassis}", {"chassis": body}
        )
        if 400 <= response.status_code < 500:
            raise RegistrationRefused(
                f"registration refused ({response.status_code}): {response.text}"
            )
        response.raise_for_status()
        answer = response.json()
        self.report_interval = float(answer["report_interval"])
        self._sent_services = body["services"]
        log.info(
            "registered",
            extra={"chassis": self.chassis, "report_interval": self.report_interval},
        )
        self.registered.set()

    def _next_delay(self) -> float:
        return self.report_interval * random.uniform(1 - self.jitter, 1.0)

    async def _report_loop(self) -> None:
        failures = 0
        delay = self._next_delay()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=delay)
            self._changed.clear()
            try:
                await self.report()
                failures = 0
                delay = self._next_delay()
            except RegistrationRefused:
                raise
            except (httpx.HTTPError, OSError, AuthError, ConnectionError) as exc:
                failures += 1
                delay = self._backoff(failures)
                log.warning(
                    "report failed; retrying",
                    extra={"error": repr(exc), "retry_in": round(delay, 3)},
                )
            except Exception as exc:  # a bus error: same treatment
                failures += 1
                delay = self._backoff(failures)
                log.warning("report failed; retrying", extra={"error": repr(exc)})

    async def report(self) -> None:
        """Send the current state (services only when changed, or every FULL_EVERY reports)."""
        services = self.monitor.statuses()
        self._reports += 1
        payload: dict[str, Any] = {}
        if services != self._sent_services or self._reports % FULL_EVERY == 0:
            payload["services"] = services
        if self.bus is not None:
            await self.bus.send(
                HEARTBEAT_SUBJECT, json.dumps({"chassis": self.chassis, **payload}).encode()
            )
        else:
            response = await self.client.request(
                "POST", f"/v1/chassis/{self.chassis}/heartbeat", payload
            )
            if response.status_code == 404:
                log.warning("chassis unknown to the server; registering again")
                await self.register()
                return
            response.raise_for_status()
        self._sent_services = services
