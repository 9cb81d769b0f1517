"""A sample monitor like Doctor's: probe each host every ``interval`` and report a raw failure
(``compute.host.down``) to the inspector as soon as a host has not answered for
``down_after`` seconds; report ``compute.host.up`` when it answers again (recorded only)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

Probe = Callable[[str, float], Awaitable[bool]]
Report = Callable[[list[dict[str, Any]]], Awaitable[None]]
Announce = Callable[[dict[str, Any]], None]


@dataclass
class Target:
    name: str
    ip: str
    up: bool = True
    last_ok: float = 0.0
    changed_at: float = 0.0
    answered: bool = False
    probes: set[asyncio.Task[None]] = field(default_factory=set)


def parse_target(text: str) -> Target:
    name, sep, ip = text.partition("=")
    if not sep or not name or not ip:
        raise ValueError(f"--host must be NAME=IP, got {text!r}")
    return Target(name.strip(), ip.strip())


def raw_failure(target: Target, down: bool, monitor: str) -> dict[str, Any]:
    event_id = str(uuid.uuid4())
    return {
        "id": event_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "type": "compute.host.down" if down else "compute.host.up",
        "details": {
            "hostname": target.name,
            "status": "down" if down else "up",
            "monitor": monitor,
            "monitor_event_id": event_id,
        },
    }


class PingMonitor:
    def __init__(
        self,
        targets: list[Target],
        probe: Probe,
        report: Report,
        *,
        interval: float = 0.1,
        down_after: float = 0.3,
        monitor: str = "stateward-monitor-ping",
        announce: Announce | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets = targets
        self.probe = probe
        self.report = report
        self.interval = interval
        self.down_after = down_after
        self.monitor = monitor
        self.announce = announce or (lambda _event: None)
        self.clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._watch(t, stop) for t in self.targets))

    async def _probe(self, target: Target) -> None:
        if await self.probe(target.ip, self.down_after):
            target.last_ok = self.clock()
            if not target.answered:
                target.answered = True
                self.announce({"host": target.name, "ip": target.ip, "state": "answering"})

    async def _watch(self, target: Target, stop: asyncio.Event) -> None:
        target.last_ok = target.changed_at = self.clock()
        while not stop.is_set():
            started = self.clock()
            task = asyncio.create_task(self._probe(target))
            target.probes.add(task)
            task.add_done_callback(target.probes.discard)
            now = self.clock()
            if target.up and now - target.last_ok > self.down_after:
                target.up, target.changed_at = False, now
                await self._send(target, down=True)
            elif not target.up and target.last_ok > target.changed_at:
                target.up, target.changed_at = True, now
                await self._send(target, down=False)
            delay = self.interval - (self.clock() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(delay, 0.0))
        for task in list(target.probes):
            task.cancel()

    async def _send(self, target: Target, *, down: bool) -> None:
        event = raw_failure(target, down, self.monitor)
        self.announce(
            {
                "host": target.name,
                "ip": target.ip,
                "state": "down" if down else "up",
                "event": event,
            }
        )
        for attempt in range(1, 6):
            try:
                await self.report([event])
                return
            except Exception as exc:
                log.warning(
                    "reporting a raw failure failed",
                    extra={"host": target.name, "attempt": attempt, "error": str(exc)},
                )
                await asyncio.sleep(0.1 * attempt)
        log.error("raw failure not delivered", extra={"host": target.name})
