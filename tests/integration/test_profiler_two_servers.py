"""Two server processes on one PostgreSQL: checkpoints posted to either make one profile, and
a checkpoint posted to both at once is recorded once (the first time is kept)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stateward.profiler.model import NAMES
from tests.support.server import start_server

pytestmark = [pytest.mark.postgres]


def test_two_processes_build_one_profile(tmp_path: Path, pg_url: str) -> None:
    first = start_server(tmp_path, db=pg_url, name="s1")
    second = start_server(tmp_path, db=pg_url, name="s2")
    try:
        token = first.token()
        t0 = time.time()
        one, two = first.client(token), second.client(token)
        with one, two:
            one.post("/v1/profiles/shared/checkpoints", json={"checkpoints": {"T00": t0}})
            two.post(
                "/v1/profiles/shared/checkpoints",
                json={"checkpoints": {n: t0 + i / 1000 for i, n in enumerate(NAMES) if i}},
            )
            for client in (one, two):
                export = client.get("/v1/profiles/shared").json()["profile"]
                assert export["complete"] is True
                assert [export[n] for n in NAMES] == [float(i) for i in range(11)]

            def race(pair: tuple[object, float]) -> list[str]:
                client, t = pair
                answer = client.post(  # type: ignore[attr-defined]
                    "/v1/profiles/raced/checkpoints", json={"checkpoints": {"T09": t}}
                )
                assert answer.status_code == 200, answer.text
                return list(answer.json()["recorded"])

            for attempt in range(5):
                trace_times = [(one, t0 + 1 + attempt), (two, t0 + 2 + attempt)]
                with ThreadPoolExecutor(2) as pool:
                    recorded = list(pool.map(race, trace_times))
                # the earliest time wins whichever process writes first: on the first attempt
                # the earlier one is recorded (and the later one too if it got there first);
                # later attempts are all later than what is stored, so nothing moves
                counts = sorted(len(r) for r in recorded)
                assert counts in ([0, 1], [1, 1]) if attempt == 0 else counts == [0, 0]
                assert recorded[0] == ["T09"] if attempt == 0 else True
            stored = one.get("/v1/profiles/raced").json()["profile"]["checkpoints"][9]["t"]
            assert stored == t0 + 1
    finally:
        first.stop()
        second.stop()
