"""Profiles in the store (SQLite and PostgreSQL): first checkpoint wins, paging, the batched
recorder behind ``stamp`` and a whole Runtime recording its roles' stamps."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from stateward.config import ProfilerConfig, load_settings, to_async_url
from stateward.domain.errors import InvalidInput, NotFound
from stateward.profiler.stamp import Stamp, new_trace, stamp
from stateward.services.profiles import ProfileRecorder, ProfileService
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async


@pytest.fixture
async def service(db_url: str) -> ProfileService:
    url = to_async_url(db_url)
    await upgrade_async(url)
    store = Store(url)
    yield ProfileService(store, ProfilerConfig())
    await store.close()


async def test_posted_checkpoints_keep_the_first_time(service: ProfileService) -> None:
    t = time.time()
    profile, recorded, kept = await service.post_checkpoints(
        "trace-a", {"T09": t + 0.010, "T10": t + 0.012, "T00": t}, process="consumer"
    )
    assert recorded == ["T00", "T09", "T10"] and kept == []
    assert profile.to_export()["T09"] == 10.0
    profile, recorded, kept = await service.post_checkpoints(
        "trace-a", {"T09": t + 5, "T08": t + 0.008}
    )
    assert recorded == ["T08"] and kept == ["T09"]
    export = profile.to_export()
    assert export["T09"] == 10.0 and export["T08"] == 8.0 and export["M05"] == 4.0
    assert export["checkpoints"][9]["meta"] == {"process": "consumer"}


async def test_bad_checkpoints_are_refused_whole(service: ProfileService) -> None:
    for bad in ({"T09": 1.0, "T99": 2.0}, {"T09": "soon"}, {"T09": -1}, {}, ["T09"]):
        with pytest.raises(InvalidInput):
            await service.post_checkpoints("trace-b", bad)
    with pytest.raises(InvalidInput):
        await service.post_checkpoints("bad id", {"T09": 1.0})
    with pytest.raises(NotFound):
        await service.get("trace-b")


async def test_list_is_newest_first_and_pages(service: ProfileService) -> None:
    for i in range(5):
        await service.post_checkpoints(f"trace-{i}", {"T00": time.time()})
        await asyncio.sleep(0.002)
    first = await service.list_profiles(limit=3)
    assert [p.trace_id for p in first] == ["trace-4", "trace-3", "trace-2"]
    rest = await service.list_profiles(limit=3, marker="trace-2")
    assert [p.trace_id for p in rest] == ["trace-1", "trace-0"]


class CountingService(ProfileService):
    """The real service, counting its write transactions."""

    batches: list[int]

    async def record_stamps(self, batch: list[Stamp]) -> int:
        self.batches.append(len(batch))
        return await super().record_stamps(batch)


async def test_recorder_writes_stamps_in_batches(db_url: str) -> None:
    url = to_async_url(db_url)
    await upgrade_async(url)
    store = Store(url)
    config = ProfilerConfig(flush_interval=0.05)
    service = CountingService(store, config)
    service.batches = []
    recorder = ProfileRecorder(service, config)
    await recorder.start()
    try:
        traces = [new_trace() for _ in range(50)]
        for trace in traces:
            for name in ("T01", "T02", "T03", "T04"):
                stamp(trace, name, host="compute-1")
        stamp(traces[0], "T01")  # a retried handler: the first time is kept
        await asyncio.wait_for(recorder.flush(), 10)
        assert sum(service.batches) == 201
        assert len(service.batches) <= 3, service.batches  # not one transaction per stamp
        profile = await service.get(traces[0].trace_id)
        assert profile.present == ["T01", "T02", "T03", "T04"]
        assert profile.checkpoint_meta["T02"]["host"] == "compute-1"
        assert profile.to_export()["M02"] is not None  # T03 -> T04
    finally:
        await recorder.stop()
        await store.close()
    stamp(new_trace(), "T01")  # after stop: nothing is queued, nothing breaks


async def test_runtime_records_its_roles_stamps(tmp_path: Path) -> None:
    from stateward.runtime import Runtime

    settings = load_settings(state_dir=tmp_path / "state")
    runtime = Runtime(settings)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    try:
        trace = new_trace()
        stamp(trace, "T00", t=time.time() - 0.02)
        stamp(trace, "T01")
        await asyncio.wait_for(runtime.profile_recorder.flush(), 10)
        profile = await runtime.profiles.get(trace.trace_id)
        assert profile.present == ["T00", "T01"]
        assert profile.to_export()["M00"] >= 19.0
        assert profile.checkpoint_meta["T01"]["process"] == runtime.process_id
    finally:
        await runtime.stop()
