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
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
from prometheus_client import Counter, Histogram

from stateward.bus.base import Bus, Subscription
from stateward.config import AlarmsConfig
from stateward.domain.alarm import Alarm, alarm_from_dict
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
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._chains: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.config.notifier_timeout,
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would bypass the policy
            limits=httpx.Limits(
                max_connections=self.config.notifier_concurrency,
                max_keepalive_connections=self.config.notifier_concurrency,
                keepalive_expiry=4.0,  # under the common 5 s server keep-alive timeout
            ),
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
            await self._client.aclose()
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
        if not detail.get("notify") or not isinstance(payload.get("alarm"), dict):
            return  # a manual state change (the API) notifies nobody, as in Aodh
        try:
            alarm = alarm_from_dict(payload["alarm"])
        except (KeyError, TypeError, ValueError):
            log.warning("undecodable alarm transition dropped", extra={"id": envelope.message_id})
            return
        await self.deliver(
            alarm,
            str(detail.get("previous") or ""),
            str(detail.get("state") or alarm.state),
            str(detail.get("transition_reason") or ""),
            detail.get("reason_data") or {},
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
        """Send to every action of ``current``'s list; returns when each is done."""
        actions = list(dict.fromkeys(alarm.actions_for(current)))
        if len(actions) > self.config.notifier_max_actions:
            NOTIFICATIONS.labels("any", "dropped").inc(
                len(actions) - self.config.notifier_max_actions
            )
            log.warning(
                "alarm has more actions than notifier_max_actions; the rest are not notified",
                extra={"alarm_id": alarm.alarm_id, "actions": len(actions)},
            )
            actions = actions[: self.config.notifier_max_actions]
        if not actions:
            return
        body = webhook_body(alarm, previous, current, reason, reason_data)
        raw = encode(body)

        def send(action: str) -> Callable[[], Awaitable[None]]:
            return lambda: self._send(action, alarm, body, raw, trace, notification_id)

        await asyncio.gather(*(self._in_order((alarm.alarm_id, a), send(a)) for a in actions))

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
        alarm: Alarm,
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
        if scheme not in ("http", "https") or not url.hostname:
            NOTIFICATIONS.labels(scheme or "none", "unsupported").inc()
            return
        await self._post(
            url, port or (443 if scheme == "https" else 80), alarm, raw, trace, notification_id
        )

    async def _post(
        self,
        url: SplitResult,
        port: int,
        alarm: Alarm,
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
                extra={"alarm_id": alarm.alarm_id, "host": host},
            )
            return
        assert self._client is not None, "notifier not started"
        target = httpx.URL(url.geturl()).copy_with(host=resolved.address)
        netloc_host = url.netloc.rsplit("@", 1)[-1]
        headers = webhook_headers(trace, host=netloc_host, notification_id=notification_id)
        extensions = {"sni_hostname": host} if scheme == "https" else {}
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
                    response = await self._client.post(
                        target, content=raw, headers=headers, extensions=extensions
                    )
                    slot.answered()
                    status = response.status_code
                    if status in BUSY_STATUS:
                        slot.ok = False
                except httpx.TimeoutException:
                    outcome = "timeout"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
            if status:
                final = _final_outcome(status)
                if final is not None:
                    NOTIFICATIONS.labels(scheme, final).inc()
                    NOTIFY_SECONDS.observe(loop.time() - started)
                    if final != "delivered":
                        log.warning(
                            "alarm webhook not delivered",
                            extra={"alarm_id": alarm.alarm_id, "status": status, "host": host},
                        )
                    return
                outcome = f"http {status}"
            log.debug(
                "alarm webhook attempt failed",
                extra={"alarm_id": alarm.alarm_id, "attempt": attempt, "outcome": outcome},
            )
            if attempt < attempts:
                NOTIFICATIONS.labels(scheme, "retried").inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.notifier_max_backoff)
        NOTIFICATIONS.labels(scheme, "failed").inc()
        log.warning(
            "alarm webhook failed after retries",
            extra={"alarm_id": alarm.alarm_id, "host": host, "attempts": attempts},
        )


def _final_outcome(status: int) -> str | None:
    """What an HTTP answer means; None: try again."""
    if 200 <= status < 300:
        return "delivered"
    if 300 <= status < 400:
        return "redirected"  # not delivered, and not followed
    if status in RETRY_STATUS or status >= 500:
        return None
    return "rejected"
