"""The NATS bus: events on JetStream (stored, shared durable queues), signals on core NATS.

Delivery rules are the in-process bus's: a subscription with a ``group`` is a durable pull
consumer shared by every process subscribing with that group (each event to one of them, kept
while they are all away); one without is an ordered push consumer seeing events published from
now on. Handlers run one message at a time per subscription and are retried on failure up to
``MAX_ATTEMPTS`` times. Publishing sets ``Nats-Msg-Id`` so the server drops a re-published
event within the stream's duplicate window; subscribers also drop ids they already handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import weakref
from collections.abc import Awaitable
from typing import Any

import nats
from nats.aio.client import Client, Server
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as CoreSubscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError
from prometheus_client import Counter

from stateward.bus.base import Handler, SignalHandler, idempotent
from stateward.bus.memory import MAX_ATTEMPTS
from stateward.config import BusConfig
from stateward.domain.events import Envelope

log = logging.getLogger(__name__)

PUBLISHED = Counter("stateward_bus_published_total", "Events stored by JetStream")
DELIVERED = Counter("stateward_bus_delivered_total", "Events handled", ["mode"])
REDELIVERED = Counter("stateward_bus_redelivered_total", "Event deliveries after the first")

FETCH_BATCH = 64
FETCH_TIMEOUT = 5.0  # a fetch returns at its first message; this only bounds an idle wait
ACK_WAIT = 30.0  # handlers running longer keep their message with in-progress acks
STOP_TIMEOUT = 10.0
BROADCAST_HEARTBEAT = 1.0  # two missed: the ordered consumer is recreated (e.g. server restart)
RECONNECT_MAX_DELAY = 5.0


def _backoff(attempt: int) -> float:
    """Delay before retrying a failed handler: the in-process bus's schedule."""
    return 0.05 * 2**attempt


def _reconnect_delay(servers: list[Server], _info: dict[str, Any]) -> tuple[Server, float]:
    """Exponential backoff with jitter, least-tried server first (nats-py's reconnect hook)."""
    server = min(servers, key=lambda s: s.reconnects)
    delay = min(RECONNECT_MAX_DELAY, 0.1 * 2**server.reconnects)
    return server, delay * random.uniform(0.5, 1.0)


def durable_name(group: str, pattern: str) -> str:
    """A valid, stable consumer name for ``group`` on ``pattern`` (one queue per pair)."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{group}__{pattern.replace('>', 'all')}")
    digest = hashlib.sha256(f"{group}\0{pattern}".encode()).hexdigest()[:8]
    return f"{readable[:100]}-{digest}"


async def _handle_with_retries(handler: Handler, envelope: Envelope) -> None:
    """Broadcast consumers have no server-side redelivery, so failures are retried here."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            await handler(envelope)
            DELIVERED.labels("broadcast").inc()
            return
        except Exception:
            log.exception(
                "bus handler failed", extra={"event_type": envelope.event_type, "attempt": attempt}
            )
            if attempt < MAX_ATTEMPTS:
                await asyncio.sleep(_backoff(attempt))


async def _keep_alive(held: list[Msg], work: Awaitable[None]) -> None:
    """Run ``work``, telling JetStream the messages still held (this one and the rest of its
    batch) are in progress, so a slow handler does not get them redelivered elsewhere."""
    task = asyncio.ensure_future(work)
    try:
        while not (await asyncio.wait({task}, timeout=ACK_WAIT / 3))[0]:
            for msg in held:
                await msg.in_progress()
        task.result()
    finally:
        task.cancel()


class _GroupSubscription:
    """One member of a durable queue: fetches, handles in order, acks or naks."""

    def __init__(
        self, psub: JetStreamContext.PullSubscription, handler: Handler, concurrency: int = 1
    ) -> None:
        self._psub = psub
        self._handler = handler
        self._concurrency = max(1, concurrency)
        self._stopping = False
        self._fetching = False
        self._task = asyncio.create_task(self._run(), name="bus-group")

    async def unsubscribe(self) -> None:
        """Finish the message in hand, give back the rest; the durable queue stays."""
        if self._task.done():
            return
        self._stopping = True
        if self._fetching:
            self._task.cancel()
        if not (await asyncio.wait({self._task}, timeout=STOP_TIMEOUT))[0]:
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._psub.unsubscribe()

    async def _run(self) -> None:
        while not self._stopping:
            self._fetching = True
            try:
                msgs = await self._psub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT)
            except (TimeoutError, nats.errors.TimeoutError):
                # An empty pull: nats-py raises its own TimeoutError, or asyncio's when the
                # request expired while a heartbeat was due. Neither is an error.
                continue
            except nats.errors.ConnectionClosedError:
                return
            except Exception:
                log.exception("bus fetch failed; retrying")
                await asyncio.sleep(1.0)
                continue
            finally:
                self._fetching = False
            if self._concurrency > 1:
                slots = asyncio.Semaphore(self._concurrency)
                await asyncio.gather(*(self._settle_in(slots, msg, msgs) for msg in msgs))
            else:
                for i, msg in enumerate(msgs):
                    await self._settle(msg, msgs[i:])

    async def _settle_in(self, slots: asyncio.Semaphore, msg: Msg, held: list[Msg]) -> None:
        async with slots:
            await self._settle(msg, held)

    async def _settle(self, msg: Msg, held: list[Msg]) -> None:
        try:
            if self._stopping:
                await msg.nak()  # to another member now, not after ack_wait
            else:
                await self._deliver(msg, held)
        except nats.errors.Error:
            log.warning("could not settle an event; JetStream will redeliver it")

    async def _deliver(self, msg: Msg, held: list[Msg]) -> None:
        attempt = msg.metadata.num_delivered
        if attempt > 1:
            REDELIVERED.inc()
        try:
            envelope = Envelope.from_dict(json.loads(msg.data))
        except Exception:
            log.exception("undecodable event dropped", extra={"subject": msg.subject})
            await msg.term()
            return
        try:
            await _keep_alive(held, self._handler(envelope))
        except Exception:
            log.exception(
                "bus handler failed", extra={"event_type": envelope.event_type, "attempt": attempt}
            )
            if attempt >= MAX_ATTEMPTS:
                log.error(
                    "event given up after %s attempts",
                    attempt,
                    extra={"event_type": envelope.event_type, "message_id": envelope.message_id},
                )
                await msg.term()
            else:
                await msg.nak(delay=_backoff(attempt))
            return
        await msg.ack()
        DELIVERED.labels("group").inc()


class _Subscription:
    def __init__(self, sub: CoreSubscription) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        with contextlib.suppress(nats.errors.BadSubscriptionError):  # closed or drained
            await self._sub.unsubscribe()


class NatsBus:
    """The bus across processes, on NATS JetStream."""

    def __init__(self, config: BusConfig, *, name: str = "stateward") -> None:
        self.config = config
        self.name = name
        self.prefix = config.subject_prefix
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._groups: weakref.WeakSet[_GroupSubscription] = weakref.WeakSet()
        self._closing = False

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("bus not started")
        return self._js

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("bus not started")
        return self._nc

    async def start(self) -> None:
        self._closing = False

        async def on_error(exc: Exception) -> None:
            log.warning("NATS error: %r", exc)

        async def on_disconnect() -> None:
            if not self._closing:
                log.warning("NATS connection lost; reconnecting")

        async def on_reconnect() -> None:
            log.info("NATS reconnected")

        self._nc = await nats.connect(
            self.config.url,
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_to_server_handler=_reconnect_delay,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
        self._js = self._nc.jetstream()
        await self._ensure_stream()

    async def _ensure_stream(self) -> None:
        """Create the stream, or make an existing one cover our subjects and dedup window.

        Interest retention keeps an event until every durable group has handled it, so the
        stream does not grow without bound and an offline group still catches up.
        """
        subject = f"{self.prefix}.events.>"
        try:
            current = (await self.js.stream_info(self.config.stream)).config
        except NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=self.config.stream,
                    subjects=[subject],
                    retention=RetentionPolicy.INTEREST,
                    storage=StorageType.FILE,
                    duplicate_window=self.config.dedup_window,
                )
            )
            return
        subjects = current.subjects or []
        if subject not in subjects or current.duplicate_window != self.config.dedup_window:
            await self.js.update_stream(
                current.evolve(
                    subjects=[*subjects, subject] if subject not in subjects else subjects,
                    duplicate_window=self.config.dedup_window,
                )
            )

    async def close(self) -> None:
        """Stop group fetchers (handing back unhandled messages), then drain and disconnect."""
        self._closing = True
        for group in list(self._groups):
            await group.unsubscribe()
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = self._js = None

    async def publish(self, envelope: Envelope) -> None:
        ack = await self.js.publish(
            f"{self.prefix}.events.{envelope.event_type}",
            json.dumps(envelope.to_dict(), separators=(",", ":")).encode(),
            stream=self.config.stream,
            headers={"Nats-Msg-Id": envelope.message_id},
        )
        if not ack.duplicate:
            PUBLISHED.inc()

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None, concurrency: int = 1
    ) -> _GroupSubscription | _Subscription:
        subject = f"{self.prefix}.events.{pattern}"
        wrapped = idempotent(handler)
        if group is None:
            return await self._broadcast(subject, wrapped)
        psub = await self.js.pull_subscribe(
            subject,
            durable=durable_name(group, pattern),
            stream=self.config.stream,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT,
                max_deliver=MAX_ATTEMPTS,
            ),
        )
        member = _GroupSubscription(psub, wrapped, concurrency)
        self._groups.add(member)
        return member

    async def _broadcast(self, subject: str, handler: Handler) -> _Subscription:
        async def on_message(msg: Msg) -> None:
            try:
                envelope = Envelope.from_dict(json.loads(msg.data))
            except Exception:
                log.exception("undecodable event dropped", extra={"subject": msg.subject})
                return
            await _handle_with_retries(handler, envelope)

        sub = await self.js.subscribe(
            subject,
            stream=self.config.stream,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=BROADCAST_HEARTBEAT,
        )
        return _Subscription(sub)

    async def send(self, subject: str, data: bytes) -> None:
        await self.nc.publish(f"{self.prefix}.signals.{subject}", data)

    async def listen(
        self, subject: str, handler: SignalHandler, *, group: str | None = None
    ) -> _Subscription:
        strip = len(f"{self.prefix}.signals.")

        async def on_message(msg: Msg) -> None:
            try:
                await handler(msg.subject[strip:], msg.data)
            except Exception:
                log.exception("signal handler failed", extra={"subject": msg.subject})

        sub = await self.nc.subscribe(
            f"{self.prefix}.signals.{subject}", queue=group or "", cb=on_message
        )
        await self.nc.flush()  # the server knows of us before a signal sent after this returns
        return _Subscription(sub)
