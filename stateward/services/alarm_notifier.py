"""The alarm notifier: Aodh's webhook body POSTed to ``http(s)://`` actions, ``log://`` logged.

A role of its own, fed through the bus: the evaluator commits a fire together with its
``alarm.state_transition`` notification (outbox), and one process of the ``alarm-notifier``
queue group delivers it. So a fire committed by a process that dies a moment later is still
delivered (by another process), the evaluator's event loop never waits for a receiver, and the
notification is acknowledged only once its webhooks are done (delivered, refused by the
receiver, or given up after the retries).

Per delivery:

* at most ``[alarms] notifier_max_actions`` distinct actions of the alarm's list are used: one
  transition can never turn into thousands of connection attempts;
* the destination is checked by the destination policy (``webhook_policy``) and the request
  goes to the address that was checked;
* requests go through the destination's adaptive window (``webhook_pool``): a few keep-alive
  connections per (scheme, host, port), more while the receiver keeps up, fewer when it slows
  down or fails;
* a failed attempt (connection error, timeout, 5xx, 429) is retried with exponential backoff,
  without holding a place in the window while it waits; a 3xx is **not** a delivery (it is not
  followed: a redirect could point anywhere) and a 4xx is the receiver's final answer;
* the transitions of one alarm reach each action in order (a later one waits for the earlier).

Outcomes are counted in ``stateward_alarm_notifications_total{scheme,outcome}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import aiohttp
from prometheus_client import Counter, Histogram

from stateward.bus.base import Bus, Subscription
from stateward.config import AlarmsConfig
from stateward.domain.alarm import Alarm
from stateward.domain.events import Envelope, TraceContext
from stateward.services.webhook_body import encode, webhook_body, webhook_headers
from stateward.services.webhook_policy import DestinationPolicy
from stateward.services.webhook_pool import Destinations

__all__ = ["GROUP", "AlarmNotifier", "DestinationPolicy", "webhook_body"]

log = logging.getLogger(__name__)

GROUP = "alarm-notifier"
TRANSITIONS = "alarm.state_transition"

NOTIFICATIONS = Counter(
    "stateward_alarm_notifications_total", "Alarm actions sent", ["scheme", "outcome"]
)
NOTIFY_SECONDS = Histogram(
    "stateward_alarm_notification_seconds",
    "Time to deliver one webhook (all attempts)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRY_STATUS = frozenset({408, 425, 429})  # the receiver asks to be tried again later
BUSY_STATUS = frozenset({429, 503})  # ... and to be sent less: the window shrinks


class AlarmNotifier:
    """The role; ``deliver`` can also be called directly (tests, one process)."""

    def __init__(self, config: AlarmsConfig, bus: Bus | None = None) -> None:
        self.config = config
        self.bus = bus
        self.policy = DestinationPolicy.from_config(config)
        self.destinations = Destinations(config.notifier_max_connections)
        self._in_flight = asyncio.Semaphore(config.notifier_concurrency)
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._chains: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        # aiohttp, not httpx, for the webhooks: a fifth of the CPU per request (the profile in
        # docs/benchmarks/fault.md); no proxy from the environment (it would bypass the policy)
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.config.notifier_concurrency,
                keepalive_timeout=4.0,  # under the common 5 s server keep-alive timeout
                use_dns_cache=False,  # we always connect to an address the policy checked
            ),
            timeout=aiohttp.ClientTimeout(total=self.config.notifier_timeout),
            trust_env=False,
            auto_decompress=False,
        )
        if self.bus is not None:
            self._subscription = await self.bus.subscribe(
                TRANSITIONS,
                self._on_transition,
                group=GROUP,
                concurrency=self.config.notifier_concurrency * 4,
            )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def drain(self) -> None:
        """Wait for every notification in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- intake ---------------------------------------------------------------------------
    async def _on_transition(self, envelope: Envelope) -> None:
        """A committed fire: deliver it, then let the bus acknowledge it."""
        payload = envelope.payload
        detail = payload.get("detail") or {}
        notification = payload.get("notification")
        if not detail.get("notify") or not isinstance(notification, dict):
            return  # a manual state change (the API) notifies nobody, as in Aodh
        body = {
            "alarm_name": notification.get("alarm_name"),
            "alarm_id": payload.get("alarm_id"),
            "severity": payload.get("severity"),
            "previous": detail.get("previous"),
            "current": detail.get("state"),
            "reason": detail.get("transition_reason"),
            "reason_data": detail.get("reason_data") or {},
        }
        actions = notification.get("actions") or []
        await self.send(
            [str(a) for a in actions],
            body,
            trace=envelope.trace,
            notification_id=envelope.message_id,
        )

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
        """``deliver`` in the background (``drain`` waits for it)."""
        task = asyncio.create_task(
            self.deliver(alarm, previous, current, reason, reason_data, trace=trace)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(
        self,
        alarm: Alarm,
        previous: str,
        current: str,
        reason: str,
        reason_data: dict[str, Any],
        *,
        trace: TraceContext | None = None,
        notification_id: str | None = None,
    ) -> None:
        """Send ``alarm``'s transition to every action of ``current``'s list."""
        body = webhook_body(alarm, previous, current, reason, reason_data)
        await self.send(
            alarm.actions_for(current), body, trace=trace, notification_id=notification_id
        )

    async def send(
        self,
        actions: Iterable[str],
        body: dict[str, Any],
        *,
        trace: TraceContext | None = None,
        notification_id: str | None = None,
    ) -> None:
        """POST ``body`` (Aodh's) to each distinct action; returns when each is done."""
        distinct = list(dict.fromkeys(actions))
        alarm_id = str(body.get("alarm_id"))
        cap = self.config.notifier_max_actions
        if len(distinct) > cap:
            NOTIFICATIONS.labels("any", "dropped").inc(len(distinct) - cap)
            log.warning(
                "alarm has more actions than notifier_max_actions; the rest are not notified",
                extra={"alarm_id": alarm_id, "actions": len(distinct)},
            )
            distinct = distinct[:cap]
        if not distinct:
            return
        raw = encode(body)

        def one(action: str) -> Callable[[], Awaitable[None]]:
            return lambda: self._send(action, body, raw, trace, notification_id)

        if len(distinct) == 1:
            await self._in_order((alarm_id, distinct[0]), one(distinct[0]))
            return
        await asyncio.gather(*(self._in_order((alarm_id, a), one(a)) for a in distinct))

    async def _in_order(self, key: tuple[str, str], work: Callable[[], Awaitable[None]]) -> None:
        """One alarm's deliveries to one action, one after the other, in the order asked."""
        previous = self._chains.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._chains[key] = mine
        try:
            if previous is not None:
                await previous
            await work()
        finally:
            mine.set_result(None)
            if self._chains.get(key) is mine:
                del self._chains[key]

    # -- one action -----------------------------------------------------------------------
    async def _send(
        self,
        action: str,
        body: dict[str, Any],
        raw: bytes,
        trace: TraceContext | None,
        notification_id: str | None,
    ) -> None:
        try:
            url = urlsplit(action)
            port = url.port
        except ValueError:
            NOTIFICATIONS.labels("none", "unsupported").inc()
            return
        scheme = url.scheme
        if scheme == "log":
            log.warning(
                "alarm fired",
                extra={
                    "alarm_id": body["alarm_id"],
                    "alarm_name": body["alarm_name"],
                    "severity": body["severity"],
                    "previous": body["previous"],
                    "current": body["current"],
                    "reason": body["reason"],
                },
            )
            NOTIFICATIONS.labels("log", "logged").inc()
            return
        if scheme not in ("http", "https") or not url.hostname:
            NOTIFICATIONS.labels(scheme or "none", "unsupported").inc()
            return
        await self._post(
            url,
            port or (443 if scheme == "https" else 80),
            str(body["alarm_id"]),
            raw,
            trace,
            notification_id,
        )

    async def _post(
        self,
        url: SplitResult,
        port: int,
        alarm_id: str,
        raw: bytes,
        trace: TraceContext | None,
        notification_id: str | None,
    ) -> None:
        scheme, host = url.scheme, url.hostname or ""
        resolved = await self.policy.resolve(host, port)
        if resolved is None:
            NOTIFICATIONS.labels(scheme, "refused").inc()
            log.warning(
                "alarm action refused by the destination policy",
                extra={"alarm_id": alarm_id, "host": host},
            )
            return
        assert self._client is not None, "notifier not started"
        address = f"[{resolved.address}]" if ":" in resolved.address else resolved.address
        userinfo = url.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@" if userinfo else ""
        target = urlunsplit((scheme, f"{netloc}{address}:{port}", url.path or "/", url.query, ""))
        headers = webhook_headers(
            trace, host=url.netloc.rpartition("@")[2], notification_id=notification_id
        )
        tls: dict[str, Any] = {"server_hostname": host} if scheme == "https" else {}
        window = self.destinations.window(scheme, resolved.host, port)
        delay = self.config.notifier_backoff
        attempts = self.config.notifier_retries + 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        for attempt in range(1, attempts + 1):
            outcome = "error"
            status = 0
            async with window.slot() as slot, self._in_flight:
                try:
                    async with self._client.post(
                        target, data=raw, headers=headers, allow_redirects=False, **tls
                    ) as response:
                        status = response.status
                        await _discard_body(response)
                    slot.answered()
                    if status in BUSY_STATUS:
                        slot.ok = False
                except TimeoutError:
                    outcome = "timeout"
                except aiohttp.ClientError as exc:
                    outcome = type(exc).__name__
            if status:
                final = _final_outcome(status)
                if final is not None:
                    NOTIFICATIONS.labels(scheme, final).inc()
                    NOTIFY_SECONDS.observe(loop.time() - started)
                    if final != "delivered":
                        log.warning(
                            "alarm webhook not delivered",
                            extra={"alarm_id": alarm_id, "status": status, "host": host},
                        )
                    return
                outcome = f"http {status}"
            log.debug(
                "alarm webhook attempt failed",
                extra={"alarm_id": alarm_id, "attempt": attempt, "outcome": outcome},
            )
            if attempt < attempts:
                NOTIFICATIONS.labels(scheme, "retried").inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.notifier_max_backoff)
        NOTIFICATIONS.labels(scheme, "failed").inc()
        log.warning(
            "alarm webhook failed after retries",
            extra={"alarm_id": alarm_id, "host": host, "attempts": attempts},
        )


async def _discard_body(response: aiohttp.ClientResponse, limit: int = 65536) -> None:
    """Read a small answer so its connection is reused; a large one closes the connection."""
    await response.content.read(limit)
    if not response.content.at_eof():
        response.close()


def _final_outcome(status: int) -> str | None:
    """What an HTTP answer means; None: try again."""
    if 200 <= status < 300:
        return "delivered"
    if 300 <= status < 400:
        return "redirected"  # not delivered, and not followed
    if status in RETRY_STATUS or status >= 500:
        return None
    return "rejected"
