"""Local services, managed the way Neutron's ProcessManager and ProcessMonitor do.

Each configured service has a name, a command and a pid file. ``ProcessManager`` starts it
(writing the pid file), stops it (SIGTERM, then SIGKILL) and checks it (the pid is alive and its
command line is the configured one). ``ProcessMonitor`` watches every service: a child that exits
is reported ``failed`` at once (with its exit status) and respawned after ``respawn_delay``; a
process found running from an earlier agent (its pid file) is adopted and polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from prometheus_client import Counter

from stateward.config import LocalServiceConfig
from stateward.domain.chassis import ServiceStatus
from stateward.domain.events import utcnow

log = logging.getLogger(__name__)

RESPAWNS = Counter("stateward_agent_service_respawns_total", "Local service respawns", ["service"])

ADOPTED_POLL = 0.5  # how often an adopted (not our child) process is checked
STOP_TIMEOUT = 5.0


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if state.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False  # a zombie is dead
    return True


class ProcessManager:
    """Start, stop and check one local service (Neutron's ProcessManager)."""

    def __init__(self, config: LocalServiceConfig) -> None:
        self.config = config
        self.process: asyncio.subprocess.Process | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def read_pid(self) -> int | None:
        if self.config.pid_file is None:
            return self.process.pid if self.process else None
        try:
            return int(self.config.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def check(self, pid: int | None = None) -> bool:
        """Active: the pid is alive and runs the configured command."""
        pid = pid if pid is not None else self.read_pid()
        if pid is None or not pid_alive(pid):
            return False
        cmdline = _cmdline(pid)
        return cmdline is None or cmdline[-len(self.config.command) :] == self.config.command

    async def start(self) -> asyncio.subprocess.Process:
        self.process = await asyncio.create_subprocess_exec(
            *self.config.command,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        if self.config.pid_file is not None:
            self.config.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.config.pid_file.write_text(f"{self.process.pid}\n")
        return self.process

    async def stop(self, pid: int | None = None) -> None:
        child = self.process if self.process and self.process.returncode is None else None
        pid = pid if pid is not None else (child.pid if child else self.read_pid())
        # Our own child is stopped whatever it exec'd into; an adopted pid only if it checks.
        if pid is not None and ((child is not None and child.pid == pid) or self.check(pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STOP_TIMEOUT
            while pid_alive(pid) and loop.time() < deadline:
                if self.process is not None and self.process.pid == pid:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.process.wait(), 0.05)
                else:
                    await asyncio.sleep(0.05)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        self.remove_pid_file()

    def remove_pid_file(self) -> None:
        if self.config.pid_file is not None:
            with contextlib.suppress(OSError):
                self.config.pid_file.unlink()


class ProcessMonitor:
    """Keeps every configured service running and knows each one's status."""

    def __init__(
        self,
        services: list[LocalServiceConfig],
        on_change: Callable[[], None] | None = None,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.managers = {s.name: ProcessManager(s) for s in services}
        self.status: dict[str, ServiceStatus] = {
            s.name: ServiceStatus("unknown", None, _iso(now()), "not started") for s in services
        }
        self.on_change = on_change or (lambda: None)
        self.now = now
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def statuses(self) -> dict[str, dict[str, object]]:
        return {name: st.to_dict() for name, st in self.status.items()}

    def _set(self, name: str, state: str, pid: int | None, detail: str) -> None:
        current = self.status[name]
        if current.state == state and current.pid == pid and current.detail == detail:
            return
        self.status[name] = ServiceStatus(state, pid, _iso(self.now()), detail)
        log.info(
            "service %s %s", name, state, extra={"service": name, "pid": pid, "detail": detail}
        )
        self.on_change()

    async def start(self) -> None:
        self._stopping = False
        for name, manager in self.managers.items():
            self._tasks[name] = asyncio.create_task(self._watch(manager), name=f"service:{name}")

    async def stop(self) -> None:
        """Stop monitoring and stop every service (reported ``stopped``)."""
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        for name, manager in self.managers.items():
            await manager.stop()
            self._set(name, "stopped", None, "stopped by the agent")

    async def _watch(self, manager: ProcessManager) -> None:
        name = manager.name
        adopted = manager.read_pid() if manager.config.pid_file else None
        if adopted is not None and manager.check(adopted):
            self._set(name, "running", adopted, "adopted from pid file")
            while manager.check(adopted):  # noqa: ASYNC110 (not our child: poll, as Neutron)
                await asyncio.sleep(ADOPTED_POLL)
            self._set(name, "failed", None, f"pid {adopted} exited")
            manager.remove_pid_file()
            if not manager.config.respawn:
                return
            await asyncio.sleep(manager.config.respawn_delay)
        first = True
        while True:
            try:
                process = await manager.start()
            except OSError as exc:
                self._set(name, "failed", None, f"cannot start: {exc}")
                if not manager.config.respawn:
                    return
                await asyncio.sleep(max(manager.config.respawn_delay, 1.0))
                continue
            if not first:
                RESPAWNS.labels(name).inc()
            first = False
            self._set(name, "running", process.pid, "")
            code = await process.wait()
            manager.remove_pid_file()
            if self._stopping:
                return
            how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            self._set(name, "failed", None, how)
            if not manager.config.respawn:
                return
            await asyncio.sleep(manager.config.respawn_delay)


def _iso(value: datetime) -> str:
    return value.isoformat()
