"""The bus protocol every role codes against.

Two kinds of traffic cross it:

* **Events** (``publish``/``subscribe``): notifications in the one ``Envelope`` shape, delivered
  at least once. A subscription with a ``group`` is a durable, shared queue: each event goes to one
  member of the group, whichever process it lives in. A subscription without a group sees every
  event published after it started (a broadcast). Patterns use NATS syntax on the event type:
  ``*`` matches one dot-separated token, ``>`` the rest (``compute.>``, ``chassis.*``).
* **Signals** (``send``/``listen``): small, fire-and-forget messages on a raw subject, for
  high-volume traffic that must not be stored (heartbeats) and wake-ups between processes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

from stateward.domain.events import Envelope

Handler = Callable[[Envelope], Awaitable[None]]
SignalHandler = Callable[[str, bytes], Awaitable[None]]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class Bus(Protocol):
    """What every bus implementation provides."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, envelope: Envelope) -> None:
        """Publish an event; returns once the bus has accepted (and, if durable, stored) it."""

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None, concurrency: int = 1
    ) -> Subscription:
        """Deliver matching events to ``handler``; with ``group``, one member per event.

        A group member handles its events one at a time, in order, unless ``concurrency`` > 1:
        then up to that many run at once (each still acknowledged only after its handler
        succeeded), for handlers that gain from overlapping, such as group commit.
        """

    async def send(self, subject: str, data: bytes) -> None:
        """Send a signal on a raw subject (not stored, at most once)."""

    async def listen(
        self, subject: str, handler: SignalHandler, *, group: str | None = None
    ) -> Subscription:
        """Receive signals on a raw subject pattern; with ``group``, one member per signal."""


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a trailing ``>`` is one or more tokens."""
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, token in enumerate(p_tokens):
        if token == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if token != "*" and token != s_tokens[i]:
            return False
    return len(p_tokens) == len(s_tokens)


class Deduplicator:
    """Remembers recently handled message ids so an at-least-once redelivery is dropped."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, message_id: str) -> bool:
        if message_id in self._seen:
            self._seen.move_to_end(message_id)
            return False
        self._seen[message_id] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True

    def forget(self, message_id: str) -> None:
        """Let the next delivery of ``message_id`` through (its handling failed)."""
        self._seen.pop(message_id, None)


def idempotent(handler: Handler, dedup: Deduplicator | None = None) -> Handler:
    """Wrap a handler so that a message id it has already handled is skipped.

    An id counts as handled only once the handler returned: a failed attempt must stay
    retryable, or at-least-once delivery would silently become at-most-once.
    """
    seen = dedup or Deduplicator()

    async def wrapper(envelope: Envelope) -> None:
        if not seen.first_time(envelope.message_id):
            return
        try:
            await handler(envelope)
        except BaseException:
            seen.forget(envelope.message_id)
            raise

    return wrapper
