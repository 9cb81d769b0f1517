"""Profiler overhead: the cost of a stamp on a role's hot path, and the recorder's writes.

    PYTHONPATH=$PWD python -m bench.profiler [--quick]

1. ``stamp(None, ...)`` (an untraced event) against a call to an empty function with the same
   signature (the baseline): the ratio is what an untraced event pays.
2. ``stamp(trace, ...)`` with JSON logging to a file and the recorder's queue as sink.
3. Writing checkpoints to SQLite: the recorder's batches against one transaction per stamp
   (the baseline), measured side by side in one run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stateward.config import ProfilerConfig, to_async_url
from stateward.domain.events import TraceContext
from stateward.observability import configure_logging
from stateward.profiler.stamp import Stamp, add_sink, new_trace, remove_sink, stamp
from stateward.services.profiles import ProfileService
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async


def _empty(
    trace: TraceContext | None, checkpoint: str, *, t: float | None = None, **meta: Any
) -> None:
    return None


def _per_call_ns(fn: Any, n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


def bench_stamp(n: int, log_dir: Path) -> None:
    baseline = _per_call_ns(lambda: _empty(None, "T02", vms=50), n)
    untraced = _per_call_ns(lambda: stamp(None, "T02", vms=50), n)
    print(
        f"untraced stamp: {untraced:8.0f} ns/call   baseline empty call: {baseline:6.0f} ns   "
        f"ratio {untraced / baseline:.2f}x"
    )
    configure_logging("INFO", "json", log_dir / "bench.log")
    queue: asyncio.Queue[Stamp] = asyncio.Queue()
    add_sink(queue.put_nowait)
    trace = new_trace()
    try:
        traced = _per_call_ns(lambda: stamp(trace, "T02", vms=50), max(1, n // 20))
    finally:
        remove_sink(queue.put_nowait)
    print(
        f"traced stamp (JSON log line + queue): {traced / 1000:8.1f} us/call "
        f"({traced / baseline:.0f}x the empty call)"
    )


async def bench_store(n: int, db: Path) -> None:
    url = to_async_url(f"sqlite:///{db}")
    await upgrade_async(url)
    store = Store(url)
    service = ProfileService(store, ProfilerConfig())
    now = time.time()
    stamps = [Stamp(f"trace-{i // 11}", f"T{i % 11:02d}", now + i / 1e4, "bench") for i in range(n)]
    single = stamps[: max(11, n // 10)]
    start = time.perf_counter()
    for s in single:
        await service.record_stamps([s])
    per_txn = (time.perf_counter() - start) / len(single)
    start = time.perf_counter()
    for i in range(len(single), n, 1000):
        await service.record_stamps(stamps[i : i + 1000])
    batched = (time.perf_counter() - start) / max(1, n - len(single))
    await store.close()
    print(f"store, one transaction per stamp (baseline): {1 / per_txn:9.0f} checkpoints/s")
    print(
        f"store, recorder batches of 1000:             {1 / batched:9.0f} checkpoints/s   "
        f"ratio {per_txn / batched:.0f}x"
    )


def main() -> None:
    quick = "--quick" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        bench_stamp(100_000 if quick else 1_000_000, Path(tmp))
        asyncio.run(bench_store(5_500 if quick else 55_000, Path(tmp) / "bench.db"))


if __name__ == "__main__":
    main()
