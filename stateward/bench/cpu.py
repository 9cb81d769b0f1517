"""What the fault benchmark measures besides latency: the servers' CPU, the notifier's retries,
and (optionally) a py-spy profile of each fault window with a summary of where the CPU went."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import httpx


def process_cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time so far of ``pids``, every thread, those that already ended included
    (``/proc/<pid>/stat`` utime + stime; clock-tick resolution, 10 ms, averaged over runs)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with (
            contextlib.suppress(FileNotFoundError, ProcessLookupError),
            open(f"/proc/{pid}/stat") as f,
        ):
            fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


RETRIED = re.compile(r'^stateward_alarm_notifications_total\{[^}]*outcome="retried"[^}]*\} (\S+)$')


async def notifier_counts(client: httpx.AsyncClient, urls: Iterable[str]) -> float:
    """Webhook attempts retried so far, all servers together (from their ``/metrics``)."""
    total = 0.0
    for url in urls:
        with contextlib.suppress(httpx.HTTPError):
            text = (await client.get(f"{url}/metrics")).text
            for line in text.splitlines():
                m = RETRIED.match(line)
                if m:
                    total += float(m.group(1))
    return total


class PySpy:
    """``py-spy record`` attached to one process for one fault window (collapsed stacks)."""

    def __init__(self, pid: int, output: Path, *, rate: int = 1000) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._proc = subprocess.Popen(  # noqa: ASYNC220 - starts it, does not wait
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--function",
                "--full-filenames",
                "--nonblocking",  # never pause the server: the figures stay its own
                "--output",
                str(self.output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)  # attached and sampling before the fault

    async def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(self._proc.wait, 30)
        self._proc = None


# leaf frames that are a thread waiting (py-spy cannot always tell idle threads here)
IDLE = ("Condition.wait", "EpollSelector.select", "SimpleQueue.get", "Event.wait", "Queue.get")
# innermost matching frame decides where a sample's CPU went
LIBRARIES: tuple[tuple[str, str], ...] = (
    ("/sqlalchemy/", "SQLAlchemy (statement building, compilation, results)"),
    ("/asyncpg/", "asyncpg (PostgreSQL driver)"),
    ("/aiosqlite/", "SQLite (aiosqlite thread)"),
    ("sqlite3", "SQLite (aiosqlite thread)"),
    ("/nats/", "nats-py"),
    ("/httpx/", "httpx/httpcore/h11 (webhooks)"),
    ("/httpcore/", "httpx/httpcore/h11 (webhooks)"),
    ("/h11/", "httpx/httpcore/h11 (webhooks)"),
    ("/json/", "json"),
    ("/logging/", "logging"),
    ("/structlog/", "logging"),
    ("/uvicorn/", "HTTP server (uvicorn/starlette/fastapi)"),
    ("/starlette/", "HTTP server (uvicorn/starlette/fastapi)"),
    ("/fastapi/", "HTTP server (uvicorn/starlette/fastapi)"),
    ("/pydantic", "pydantic"),
    ("/prometheus_client/", "prometheus_client"),
    ("/asyncio/", "asyncio event loop"),
    ("/stateward/", "stateward's own code"),
)
ROLES: tuple[tuple[str, str], ...] = (
    ("alarm_notifier.py", "notifier (webhook delivery)"),
    ("alarm_evaluator.py", "evaluator (match, fire batches)"),
    ("outbox.py", "outbox relay"),
    ("inspector.py", "inspector / host-down transaction"),
    ("/services/compute.py", "inspector / host-down transaction"),
    ("/bus/", "bus (delivery to handlers)"),
    ("/api/", "API requests"),
    ("/profiler/", "profiler"),
)


def summarise_profiles(files: Iterable[Path], top: int = 20) -> str:
    """Where the sampled CPU went, over every recorded window: by library (innermost frame)
    and by role (outermost stateward module on the stack)."""
    by_library: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for path in files:
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text().splitlines():
                stack, _, count_text = line.rpartition(" ")
                if not stack or not count_text.isdigit():
                    continue
                count = int(count_text)
                frames = stack.split(";")
                if any(idle in frames[-1] for idle in IDLE):
                    continue  # a thread waiting, not working
                total += count
                by_library[_first(reversed(frames), LIBRARIES) or "other"] += count
                by_role[_first(frames, ROLES) or "other (idle loop, timers)"] += count
                by_function[frames[-1]] += count
                for frame in set(frames):
                    if "/stateward/" in frame:
                        inclusive[frame.split(" (", 1)[0]] += count
    if not total:
        return "no samples recorded (is py-spy installed and allowed to attach?)\n"
    out = [f"py-spy samples: {total}", "", "CPU by library (innermost frame):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_library.most_common(top)]
    out += ["", "CPU by role (outermost stateward module on the stack):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_role.most_common(top)]
    out += ["", "Stateward functions (inclusive: on the stack):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    out += ["", "Hottest functions (self time):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_function.most_common(top)]
    return "\n".join(out) + "\n"


def _first(frames: Iterable[str], rules: tuple[tuple[str, str], ...]) -> str | None:
    for frame in frames:
        for needle, name in rules:
            if needle in frame:
                return name
    return None
