"""The agent's side of the per-chassis feed: a local cache kept current, and handlers told.

On start (and whenever the feed says so) it takes a snapshot; then it follows the changes:

* over HTTP (the embedded default) with long-polls ``GET /v1/chassis/{name}/feed?since=N&wait=W``
  - one open request per agent, answered as soon as a change commits in any server process;
* over NATS (when the server uses it) by listening to the chassis' feed signal, which carries
  the new entries, plus a cheap ``since`` check every ``check_interval`` for a signal lost on
  the way (core NATS delivers at most once).

A batch that does not start right after the cache's sequence number is a gap: the client
catches up with ``since`` over HTTP, and takes a snapshot when the server answers ``resync``
(another epoch, or entries pruned). Handlers get each update after the cache applied it; they
are meant to be level-triggered (compute what they want from the cache and converge).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import Counter

from stateward.agent.client import AuthError, ServerClient
from stateward.bus.base import Bus, Subscription
from stateward.domain.agent_feed import Change, FeedCache, FeedObject, Outcome, signal_subject

log = logging.getLogger(__name__)

RESYNCS = Counter("stateward_agent_feed_resyncs_total", "Snapshots the agent took", ["reason"])
APPLIED = Counter("stateward_agent_feed_changes_total", "Feed changes the agent applied")
GAPS = Counter("stateward_agent_feed_gaps_total", "Gaps seen in the feed stream")


@dataclass
class FeedUpdate:
    """What changed in the cache: a whole new snapshot, or these changes in order."""

    cache: FeedCache
    changes: list[Change] = field(default_factory=list)
    resynced: bool = False


FeedHandler = Callable[[FeedUpdate], Awaitable[None]]


class FeedError(Exception):
    """The server answered the feed request with an error."""


class FeedClient:
    def __init__(
        self,
        client: ServerClient,
        chassis: str,
        *,
        bus: Bus | None = None,
        wait: float = 30.0,
        check_interval: float = 30.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.client = client
        self.chassis = chassis
        self.bus = bus
        self.wait = wait
        self.check_interval = check_interval
        self.max_backoff = max_backoff
        self.cache = FeedCache()
        self.handlers: list[FeedHandler] = []
        self.synced = asyncio.Event()
        self._signals: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sub: Subscription | None = None

    def add_handler(self, handler: FeedHandler) -> None:
        self.handlers.append(handler)

    async def run(self) -> None:
        """Follow the feed until cancelled; connection problems are retried with backoff."""
        if self.bus is not None:
            self._sub = await self.bus.listen(signal_subject(self.chassis), self._on_signal)
        failures = 0
        try:
            while True:
                try:
                    if self.cache.epoch is None:
                        await self.resync("start")
                    if self.bus is not None:
                        await self._follow_signals()
                    else:
                        await self.catch_up(wait=self.wait)
                    failures = 0
                except (httpx.HTTPError, OSError, AuthError, FeedError) as exc:
                    failures += 1
                    delay = min(self.max_backoff, 0.05 * 2**failures) * random.uniform(0.75, 1.0)
                    log.warning(
                        "feed read failed; retrying",
                        extra={"error": repr(exc), "retry_in": round(delay, 3)},
                    )
                    await asyncio.sleep(delay)
        finally:
            if self._sub is not None:
                with contextlib.suppress(Exception):
                    await self._sub.unsubscribe()
                self._sub = None

    async def _get(self, path: str, wait: float = 0.0) -> dict[str, Any]:
        response = await self.client.request(
            "GET", f"/v1/chassis/{self.chassis}/{path}", timeout=wait + 10.0
        )
        if response.status_code != 200:
            raise FeedError(f"GET {path}: {response.status_code} {response.text[:200]}")
        return dict(response.json()["feed"])

    async def resync(self, reason: str) -> None:
        """Take a snapshot and hand it to the handlers."""
        snap = await self._get("feed/snapshot")
        self.cache.load(
            snap["epoch"], int(snap["seq"]), [FeedObject.from_dict(o) for o in snap["objects"]]
        )
        RESYNCS.labels(reason).inc()
        log.info(
            "feed snapshot",
            extra={
                "chassis": self.chassis,
                "seq": self.cache.seq,
                "objects": len(snap["objects"]),
                "reason": reason,
            },
        )
        self.synced.set()
        await self._tell(FeedUpdate(self.cache, [], resynced=True))

    async def catch_up(self, *, wait: float = 0.0) -> None:
        """Fetch and apply everything after the cache's number (waiting up to ``wait`` for the
        first change); resync if the server says so."""
        while True:
            page = await self._get(
                f"feed?since={self.cache.seq}&epoch={self.cache.epoch}&wait={wait}", wait
            )
            if page["resync"]:
                await self.resync(str(page["resync"]))
                return
            changes = [Change.from_dict(c) for c in page["changes"]]
            if changes:
                outcome = await self._apply(str(page["epoch"]), changes)
                if outcome in (Outcome.GAP, Outcome.RESYNC):  # cannot happen on a fresh page
                    await self.resync("inconsistent page")
                    return
            if not page["more"]:
                return
            wait = 0.0

    async def _follow_signals(self) -> None:
        """NATS mode: apply signalled batches; check over HTTP on a gap, a big batch or quiet."""
        try:
            signal = await asyncio.wait_for(self._signals.get(), timeout=self.check_interval)
        except TimeoutError:
            await self.catch_up()
            return
        raw = signal.get("changes")
        if raw is None:
            await self.catch_up()
            return
        outcome = await self._apply(str(signal["epoch"]), [Change.from_dict(c) for c in raw])
        if outcome is Outcome.GAP:
            GAPS.inc()
            await self.catch_up()
        elif outcome is Outcome.RESYNC:
            await self.catch_up()  # the server decides: same epoch after all, or a snapshot

    async def _on_signal(self, _subject: str, data: bytes) -> None:
        try:
            self._signals.put_nowait(json.loads(data))
        except ValueError:
            log.warning("undecodable feed signal dropped")

    async def _apply(self, epoch: str, changes: list[Change]) -> Outcome:
        outcome, applied = self.cache.apply(epoch, changes)
        if applied:
            APPLIED.inc(len(applied))
            await self._tell(FeedUpdate(self.cache, applied))
        return outcome

    async def _tell(self, update: FeedUpdate) -> None:
        for handler in self.handlers:
            try:
                await handler(update)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("feed handler failed", extra={"chassis": self.chassis})
