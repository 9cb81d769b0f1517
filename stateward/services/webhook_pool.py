"""Delivery that adapts to the receiver: one window of requests in flight per destination.

A destination is (scheme, host, port). Its window (``AdaptiveWindow``) bounds the requests in
flight to it, so the connections the keep-alive pool opens to it; it starts at one and
follows AIMD, as TCP's congestion control does:

* **additive increase** — each answer while the smoothed round trip stays near the best seen
  recently (within ``3 x`` + 1 ms) grows the window by ``1/window``: about one more request
  per round trip while the receiver keeps up;
* **multiplicative decrease** — when the smoothed round trip grows past that (the receiver is
  queueing: a single-threaded server answers the n-th of n concurrent requests n times slower)
  the window shrinks by a quarter, and a connection error or timeout halves it; at most once
  per round trip, so one burst of slow answers is one signal, not twenty.

So a small receiver (one connection at a time, listen backlog 5) sees two or three
connections, never the dozens that overflow its backlog, and a large one is driven up to
``[alarms] notifier_max_connections``. A request waiting for its retry holds no slot.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Gauge

DESTINATIONS = Gauge(
    "stateward_alarm_notifier_destinations", "Webhook destinations with a delivery window"
)

LATENCY_FACTOR = 3.0
LATENCY_SLACK = 0.001  # s: noise on a busy machine is not congestion
SMOOTHING = 0.2  # weight of a new round trip in the smoothed one (as TCP's SRTT, 1/8..1/4)
BASE_SAMPLES = 256  # the base round trip is the best of about this many recent answers


class AdaptiveWindow:
    """An AIMD-sized semaphore: FIFO waiters, a limit that grows and shrinks with the answers."""

    def __init__(self, ceiling: int, *, initial: float = 2.0) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = min(float(self.ceiling), max(1.0, initial))
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._base: float | None = None
        self._smoothed: float | None = None
        self._next_decrease = 0.0  # no second decrease before this (one per round trip)
        self._recent_best = float("inf")
        self._samples = 0

    @property
    def base_rtt(self) -> float | None:
        return self._base

    async def acquire(self) -> None:
        if self.in_flight < int(self.limit) and not self._waiters:
            self.in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.in_flight -= 1  # granted, then cancelled: hand the slot on
                self._wake()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self, *, ok: bool, rtt: float | None = None) -> None:
        """An answer (``ok``, in ``rtt`` seconds) or a failure to get one."""
        self.in_flight -= 1
        if not ok:
            self._decrease(0.5)
        elif rtt is not None:
            self._observe(rtt)
            assert self._base is not None and self._smoothed is not None
            if self._smoothed > self._base * LATENCY_FACTOR + LATENCY_SLACK:
                self._decrease(0.75)
            else:
                self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
        self._wake()

    def _decrease(self, factor: float) -> None:
        now = time.monotonic()
        if now < self._next_decrease:
            return
        self.limit = max(1.0, self.limit * factor)
        self._next_decrease = now + (self._smoothed or 0.0)

    def _observe(self, rtt: float) -> None:
        self._smoothed = (
            rtt if self._smoothed is None else (1 - SMOOTHING) * self._smoothed + SMOOTHING * rtt
        )
        self._recent_best = min(self._recent_best, rtt)
        self._samples += 1
        if self._base is None or rtt < self._base:
            self._base = rtt
        if self._samples >= BASE_SAMPLES:  # forget an old best: the receiver may have changed
            self._base, self._recent_best, self._samples = self._recent_best, float("inf"), 0

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        await self.acquire()
        slot = Slot()
        try:
            yield slot
        finally:
            self.release(ok=slot.ok, rtt=slot.rtt)


class Slot:
    """One request's place in a window; the request says how it went."""

    __slots__ = ("_started", "ok", "rtt")

    def __init__(self) -> None:
        self.ok = False
        self.rtt: float | None = None
        self._started = time.perf_counter()

    def answered(self) -> None:
        """Any HTTP answer: the receiver kept up (a 4xx/5xx is about the request)."""
        self.ok = True
        self.rtt = time.perf_counter() - self._started


class Destinations:
    """The windows, one per (scheme, host, port), created on first use, idle ones forgotten."""

    def __init__(self, ceiling: int, *, max_idle: int = 1024) -> None:
        self.ceiling = ceiling
        self.max_idle = max_idle
        self._windows: dict[tuple[str, str, int], AdaptiveWindow] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def window(self, scheme: str, host: str, port: int) -> AdaptiveWindow:
        key = (scheme, host, port)
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.max_idle:
                self._forget_idle()
            window = self._windows[key] = AdaptiveWindow(self.ceiling)
            DESTINATIONS.set(len(self._windows))
        return window

    def _forget_idle(self) -> None:
        for key, window in list(self._windows.items()):
            if window.in_flight == 0 and not window._waiters:
                del self._windows[key]
