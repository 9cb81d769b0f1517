"""Two ``serve`` processes on PostgreSQL + NATS; one is SIGKILLed in the middle of a 1,000-alarm
burst. Every alarm still fires exactly once (one state transition in its history) and reaches
the consumer: the events the dead process held are redelivered to the other one, whose claims
refuse any fire already committed, and fires committed just before the kill are delivered by the
surviving notifier from the bus."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stateward.bus.nats import NatsBus
from stateward.config import to_async_url
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async
from stateward.store.repositories.alarms import AlarmRepository
from stateward.store.tables.alarms import alarm_history, alarms
from tests.support.alarms import vm_error, vm_error_alarm
from tests.support.server import start_server
from tests.support.webhook import WebhookReceiver

pytestmark = [pytest.mark.postgres, pytest.mark.nats]

N = 1000
PROJECT = "p-crash"


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_sigkill_mid_burst_every_alarm_fires_once_and_reaches_the_consumer(
    tmp_path: Path,
    pg_url: str,
    nats_url: str,
    subject_prefix: str,
    make_nats_bus: Callable[[], Awaitable[NatsBus]],
) -> None:
    url = to_async_url(pg_url)
    await upgrade_async(url)
    with WebhookReceiver() as hook:
        store = Store(url)
        try:  # the alarms exist before the servers start, so both load them into their index
            async with store.uow() as uow:
                await AlarmRepository(uow).add_many(
                    vm_error_alarm(i, hook.url, project=PROJECT) for i in range(N)
                )
                await uow.commit()
        finally:
            await store.close()
        env = {
            "STATEWARD_BUS__STREAM": subject_prefix,
            "STATEWARD_BUS__SUBJECT_PREFIX": subject_prefix,
            "STATEWARD_LIVENESS__CHASSIS_DOWN_TIME": "3600",
        }
        servers = [
            await asyncio.to_thread(  # generous: a busy CI machine starts slowly
                start_server, tmp_path, db=pg_url, bus=nats_url, env=env, name=name, timeout=120
            )
            for name in ("victim", "survivor")
        ]
        victim, survivor = servers
        try:
            bus = await make_nats_bus()

            def delivered() -> set[Any]:
                return {body["alarm_id"] for body in list(hook.received)}

            for i in range(N):
                await bus.publish(vm_error(i, project=PROJECT))
            await wait_until(lambda: len(hook.received) >= 20, 60, "the burst to start firing")
            victim.stop(signal.SIGKILL)
            killed_at = len(delivered())
            # the victim's unacknowledged events come back after JetStream's ack wait (30 s)
            await wait_until(lambda: len(delivered()) == N, 180, f"all {N} alarms delivered")
            assert killed_at < N, "the burst was over before the kill; nothing was tested"

            store = Store(url)
            try:
                async with store.uow(readonly=True) as uow:
                    fired = dict(
                        (
                            await uow.conn.execute(
                                sa.select(alarm_history.c.alarm_id, sa.func.count())
                                .where(alarm_history.c.type == "state transition")
                                .group_by(alarm_history.c.alarm_id)
                            )
                        ).all()
                    )
                    states = {
                        r[0]
                        for r in await uow.conn.execute(
                            sa.select(alarms.c.state).where(alarms.c.project_id == PROJECT)
                        )
                    }
            finally:
                await store.close()
            assert len(fired) == N
            assert set(fired.values()) == {1}, "an alarm fired twice"
            assert states == {"alarm"}
        finally:
            for server in servers:
                server.stop()
    records = survivor.log_records()
    assert any(r.get("event") == "alarms fired" and r.get("fired") for r in records)
