"""The alarm notifier: Aodh's webhook body POSTed to ``http(s)://`` actions, ``log://`` logged.

Each action is sent in its own task (bounded by a semaphore) with a per-attempt timeout and
retries with exponential backoff; outcomes are counted in
``stateward_alarm_notifications_total{scheme,outcome}``. Destinations are checked against the
operator's allow-list (hosts or CIDRs; by default everything except link-local addresses, so
an alarm cannot be aimed at a cloud metadata service) after resolving the host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter, Histogram

from stateward.config import AlarmsConfig
from stateward.domain.alarm import Alarm
from stateward.domain.events import TraceContext
from stateward.profiler.stamp import trace_headers

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "stateward_alarm_notifications_total", "Alarm actions sent", ["scheme", "outcome"]
)
NOTIFY_SECONDS = Histogram(
    "stateward_alarm_notification_seconds",
    "Time to deliver one webhook (all attempts)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LINK_LOCAL: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)


class DestinationPolicy:
    """Which hosts webhook actions may reach."""

    def __init__(self, allow: Iterable[str] | None) -> None:
        self.default = allow is None
        self.networks: list[IPNetwork] = []
        self.hosts: set[str] = set()
        for entry in allow or ():
            if "/" in entry:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            else:
                try:
                    self.networks.append(ipaddress.ip_network(entry))
                except ValueError:
                    self.hosts.add(entry.lower().rstrip("."))

    def address_allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.default:
            return not any(ip in net for net in LINK_LOCAL)
        return any(ip in net for net in self.networks)

    def literal_verdict(self, host: str) -> bool | None:
        """At alarm creation: True/False for addresses and listed names, None if unknown."""
        host = host.lower().rstrip(".")
        if host in self.hosts:
            return True
        try:
            return self.address_allowed(host)
        except ValueError:
            return None if self.default or self.networks else False

    async def allowed(self, host: str, port: int) -> bool:
        """At send time: a listed name, or every address the name resolves to is allowed."""
        verdict = self.literal_verdict(host)
        if verdict is not None:
            return verdict
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return False
        addresses = {str(info[4][0]) for info in infos}
        return bool(addresses) and all(self.address_allowed(a) for a in addresses)


def webhook_body(
    alarm: Alarm, previous: str, current: str, reason: str, reason_data: dict[str, Any]
) -> dict[str, Any]:
    """Aodh's REST notifier body."""
    return {
        "alarm_name": alarm.name,
        "alarm_id": alarm.alarm_id,
        "severity": alarm.severity,
        "previous": previous,
        "current": current,
        "reason": reason,
        "reason_data": reason_data,
    }


class AlarmNotifier:
    def __init__(self, config: AlarmsConfig) -> None:
        self.config = config
        self.policy = DestinationPolicy(config.action_allow)
        self._semaphore = asyncio.Semaphore(config.notifier_concurrency)
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.config.notifier_timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.config.notifier_concurrency),
        )

    async def stop(self) -> None:
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self) -> None:
        """Wait for every notification in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def notify(
        self,
        alarm: Alarm,
        previous: str,
        current: str,
        reason: str,
        reason_data: dict[str, Any],
        *,
        trace: TraceContext | None = None,
    ) -> None:
        """Send to every action of ``current``'s list, in the background."""
        actions = alarm.actions_for(current)
        if not actions:
            return
        body = webhook_body(alarm, previous, current, reason, reason_data)
        for action in actions:
            task = asyncio.create_task(self._send(action, alarm, body, trace))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(
        self, action: str, alarm: Alarm, body: dict[str, Any], trace: TraceContext | None
    ) -> None:
        url = urlsplit(action)
        scheme = url.scheme
        if scheme == "log":
            log.warning(
                "alarm fired",
                extra={
                    "alarm_id": alarm.alarm_id,
                    "alarm_name": alarm.name,
                    "severity": alarm.severity,
                    "previous": body["previous"],
                    "current": body["current"],
                    "reason": body["reason"],
                },
            )
            NOTIFICATIONS.labels("log", "logged").inc()
            return
        if scheme not in ("http", "https"):
            NOTIFICATIONS.labels(scheme or "none", "unsupported").inc()
            return
        async with self._semaphore:
            await self._post(action, url.hostname or "", url.port, scheme, alarm, body, trace)

    async def _post(
        self,
        action: str,
        host: str,
        port: int | None,
        scheme: str,
        alarm: Alarm,
        body: dict[str, Any],
        trace: TraceContext | None,
    ) -> None:
        if not await self.policy.allowed(host, port or (443 if scheme == "https" else 80)):
            NOTIFICATIONS.labels(scheme, "refused").inc()
            log.warning(
                "alarm action refused by action_allow",
                extra={"alarm_id": alarm.alarm_id, "host": host},
            )
            return
        assert self._client is not None, "notifier not started"
        headers = {"Content-Type": "application/json", "User-Agent": "stateward-alarm-notifier"}
        headers.update(trace_headers(trace))  # the consumer can post T09/T10 back
        delay = self.config.notifier_backoff
        attempts = self.config.notifier_retries + 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        for attempt in range(1, attempts + 1):
            outcome = "error"
            try:
                response = await self._client.post(action, json=body, headers=headers)
                if response.status_code < 500:
                    outcome = "delivered" if response.status_code < 400 else "rejected"
                    NOTIFICATIONS.labels(scheme, outcome).inc()
                    NOTIFY_SECONDS.observe(loop.time() - started)
                    return
                outcome = f"http {response.status_code}"
            except httpx.TimeoutException:
                outcome = "timeout"
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            log.info(
                "alarm webhook attempt failed",
                extra={"alarm_id": alarm.alarm_id, "attempt": attempt, "outcome": outcome},
            )
            if attempt < attempts:
                NOTIFICATIONS.labels(scheme, "retried").inc()
                await asyncio.sleep(delay)
                delay *= 2
        NOTIFICATIONS.labels(scheme, "failed").inc()
        log.warning(
            "alarm webhook failed after retries",
            extra={"alarm_id": alarm.alarm_id, "action": action},
        )
