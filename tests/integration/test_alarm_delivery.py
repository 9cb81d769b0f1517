"""Alarm webhooks reach ordinary receivers: fast, in order, once, and nowhere they must not go.

The receivers are real HTTP servers on loopback (which the tests' configuration opens
explicitly): ``PlainReceiver`` is the few-line ``http.server`` a user writes (one thread, HTTP/1.0,
listen backlog 5); ``WebhookReceiver`` a threaded one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from stateward.config import AlarmsConfig, load_settings
from stateward.domain.alarm import ALARM, OK, Alarm, parse_event_rule
from stateward.domain.events import Envelope
from stateward.runtime import Runtime
from stateward.services.alarm_evaluator import AlarmEvaluator
from stateward.services.alarm_notifier import AlarmNotifier
from stateward.services.alarms import Actor
from stateward.testing.consumer import PlainReceiver
from tests.conftest import free_port
from tests.support.alarms import vm_error, vm_error_alarm
from tests.support.webhook import WebhookReceiver

ACTOR = Actor(user_id="u", project_id="p1")
LOOPBACK = ["127.0.0.0/8"]


def runtime_for(db_url: str, tmp_path: Path, **overrides: Any) -> Runtime:
    return Runtime(
        load_settings(
            **{
                "database.url": db_url,
                "state_dir": tmp_path,
                "alarms.resync_interval": 0,
                "alarms.action_open": LOOPBACK,  # the receivers listen on loopback
                "logging.level": "WARNING",
                **overrides,
            }
        )
    )


def metric(outcome: str, scheme: str = "http") -> float:
    value = REGISTRY.get_sample_value(
        "stateward_alarm_notifications_total", {"scheme": scheme, "outcome": outcome}
    )
    return value or 0.0


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_one_thread_backlog_5_receiver_gets_all_50_alarms_without_a_retry(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The receiver people write in a few lines: never flooded, nothing refused or retried."""
    runtime = runtime_for(sqlite_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    receiver = PlainReceiver()
    await receiver.start()
    try:
        for n in range(50):
            await runtime.alarms.create(vm_error_alarm(n, receiver.url), ACTOR)
        retried, failed = metric("retried"), metric("failed")
        for n in range(50):
            await runtime.bus.publish(vm_error(n))
        alarms = await receiver.wait_for(lambda got: len(got) >= 50, timeout=60)
        assert sorted(a.alarm_name for a in alarms) == sorted(f"vm-{n}-error" for n in range(50))
        assert metric("retried") == retried, "a first attempt failed"
        assert metric("failed") == failed
        # HTTP/1.0: one connection per request, never more at once than its backlog holds
        assert receiver.connections == 50
        assert all(w.limit <= 8 for w in runtime.alarm_notifier.destinations._windows.values())
    finally:
        await receiver.stop()
        await runtime.stop()


async def test_a_receiver_down_for_5_s_then_back_gets_every_alarm_exactly_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/alarm"
    runtime = runtime_for(sqlite_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    receiver: PlainReceiver | None = None
    try:
        for n in range(50):
            await runtime.alarms.create(vm_error_alarm(n, url), ACTOR)
        delivered, failed = metric("delivered"), metric("failed")
        for n in range(50):
            await runtime.bus.publish(vm_error(n))
        await wait_until(lambda: metric("retried") > 0, 30, "the first failed attempts")
        await asyncio.sleep(5.0)  # the receiver is down for 5 s
        receiver = PlainReceiver(port=port)
        await receiver.start()
        await receiver.wait_for(lambda got: len(got) >= 50, timeout=60)
        await wait_until(lambda: metric("delivered") - delivered >= 50, 30, "every delivery done")
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        counts = Counter(a.alarm_id for a in receiver.received)
        assert len(counts) == 50
        assert set(counts.values()) == {1}, "an alarm was delivered twice"
        assert metric("failed") == failed
    finally:
        if receiver is not None:
            await receiver.stop()
        await runtime.stop()


async def test_a_redelivered_event_never_fires_an_alarm_twice(db_url: str, tmp_path: Path) -> None:
    """An event handled, committed, then delivered again (a bus outage; another process after
    a crash before the acknowledgement): a repeating alarm does not fire again for it."""
    runtime = runtime_for(db_url, tmp_path)
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    try:
        with WebhookReceiver() as hook:
            alarm = await runtime.alarms.create(
                vm_error_alarm(1, hook.url, repeat_actions=True), ACTOR
            )
            event = vm_error(1)
            evaluator = runtime.alarm_evaluator
            assert evaluator is not None
            await evaluator.handle(event)
            await asyncio.to_thread(hook.wait_for, 1)
            # the same event again, in "another process" (its own memory of handled ids)
            other = AlarmEvaluator(runtime.store, runtime.bus, runtime.alarms, resync_interval=0)
            await other.reload()
            await other.handle(event)
            await evaluator.handle(Envelope.from_dict(event.to_dict()))
            # a different event still fires the repeating alarm
            await other.handle(vm_error(1))
            await asyncio.to_thread(hook.wait_for, 2)
            await asyncio.sleep(0.5)
            assert len(hook.received) == 2
            history = await runtime.alarms.history(alarm.alarm_id, None)
            assert [h["type"] for h in history].count("state transition") == 2
    finally:
        await runtime.stop()


class _Scripted:
    """A threaded receiver whose answers a test scripts per path; records arrival order."""

    def __init__(self, answers: dict[str, list[int]], delays: dict[str, float] | None = None):
        self.order: list[tuple[str, str, float]] = []  # (path, body's "current", arrival)
        self.answers = answers
        self.delays = delays or {}
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                script = me.answers.get(self.path) or [200]
                status = script.pop(0) if len(script) > 1 else script[0]
                time.sleep(me.delays.get(self.path, 0.0))
                me.order.append((self.path, str(body.get("current")), time.monotonic()))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{me.port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def notifier_config(**kw: Any) -> AlarmsConfig:
    return AlarmsConfig(
        action_open=LOOPBACK, notifier_backoff=0.3, notifier_retries=2, notifier_timeout=5, **kw
    )


def plain_alarm(name: str, *actions: str, ok: tuple[str, ...] = ()) -> Alarm:
    return Alarm(
        alarm_id=f"alarm-{name}",
        name=name,
        project_id="p1",
        user_id="u",
        rule=parse_event_rule({"event_type": "*"}),
        alarm_actions=actions,
        ok_actions=ok,
    )


async def test_a_redirect_is_not_a_delivery_and_is_not_followed() -> None:
    receiver = _Scripted({"/moved": [302]})
    notifier = AlarmNotifier(notifier_config())
    await notifier.start()
    try:
        redirected = metric("redirected")
        await notifier.deliver(plain_alarm("r", receiver.base + "/moved"), OK, ALARM, "why", {})
        assert [path for path, _c, _t in receiver.order] == ["/moved"]  # once, not followed
        assert metric("redirected") == redirected + 1
    finally:
        await notifier.stop()
        receiver.close()


async def test_one_transition_never_turns_into_thousands_of_requests() -> None:
    receiver = _Scripted({})
    notifier = AlarmNotifier(notifier_config(notifier_max_actions=10))
    await notifier.start()
    try:
        actions = [f"{receiver.base}/hook/{i}" for i in range(1000)]
        alarm = plain_alarm("many", *actions, *actions)  # duplicates count once
        dropped = metric("dropped", scheme="any")
        await notifier.deliver(alarm, OK, ALARM, "why", {})
        assert len(receiver.order) == 10
        assert metric("dropped", scheme="any") == dropped + 990
    finally:
        await notifier.stop()
        receiver.close()


async def test_one_alarms_transitions_reach_an_action_in_order() -> None:
    receiver = _Scripted({}, delays={"/slow": 0.3})  # the first answer is late
    notifier = AlarmNotifier(notifier_config())
    await notifier.start()
    try:
        ordered = plain_alarm("ordered", receiver.base + "/slow", ok=(receiver.base + "/slow",))
        notifier.notify(ordered, OK, ALARM, "fired", {})
        notifier.notify(ordered, ALARM, OK, "cleared", {})
        await notifier.drain()
        assert [current for _path, current, _t in receiver.order] == [ALARM, OK]
    finally:
        await notifier.stop()
        receiver.close()


async def test_a_retry_waiting_for_its_turn_holds_no_other_delivery_back() -> None:
    receiver = _Scripted({"/flaky": [503, 200]})  # fails once, retried 0.3 s later
    notifier = AlarmNotifier(notifier_config())
    await notifier.start()
    try:
        notifier.notify(plain_alarm("flaky", receiver.base + "/flaky"), OK, ALARM, "x", {})
        await wait_until(lambda: len(receiver.order) == 1, 10, "the first attempt")
        notifier.notify(plain_alarm("other", receiver.base + "/other"), OK, ALARM, "y", {})
        await notifier.drain()
        assert [path for path, _c, _t in receiver.order] == ["/flaky", "/other", "/flaky"]
    finally:
        await notifier.stop()
        receiver.close()


async def test_refused_destinations_are_never_contacted() -> None:
    notifier = AlarmNotifier(AlarmsConfig())  # the default policy: loopback not opened
    receiver = _Scripted({})
    await notifier.start()
    try:
        refused = metric("refused")
        port = receiver.port
        alarm = plain_alarm(
            "ssrf",
            f"http://127.0.0.1:{port}/a",
            f"http://2130706433:{port}/b",
            f"http://0x7f.1:{port}/c",
            f"http://[::ffff:127.0.0.1]:{port}/d",
            f"http://localhost:{port}/e",
            f"http://0.0.0.0:{port}/f",
            "http://169.254.169.254/latest/meta-data/",
        )
        await notifier.deliver(alarm, OK, ALARM, "why", {})
        assert receiver.order == []
        assert metric("refused") == refused + 7
    finally:
        await notifier.stop()
        receiver.close()
