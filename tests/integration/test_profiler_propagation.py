"""The trace travels with the work: through the outbox and the bus in the envelope, and to a
webhook receiver in its headers; every hop stamps into the same profile."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx

from stateward.config import load_settings
from stateward.domain.events import Envelope
from stateward.profiler.stamp import open_trace, stamp, trace_from_headers, trace_headers
from tests.support.server import running_server


async def test_trace_crosses_the_outbox_and_the_bus(tmp_path: Path) -> None:
    from stateward.runtime import Runtime

    # the real alarm evaluator (which stamps T06/T07 itself) is off: this test's own
    # stand-in plays the role on the other side of the bus
    runtime = Runtime(load_settings(state_dir=tmp_path / "state", **{"alarms.evaluate": False}))
    await runtime.prepare_database(migrate=True)
    await runtime.start()
    received: asyncio.Queue[Envelope] = asyncio.Queue()

    async def evaluator(envelope: Envelope) -> None:  # a role on the other side of the bus
        stamp(envelope.trace, "T06")
        await received.put(envelope)

    subscription = await runtime.bus.subscribe("compute.instance.update", evaluator)
    try:
        trace = open_trace(host_down_at=time.time() - 0.01)
        async with runtime.store.uow() as uow:
            stamp(trace, "T04", vms=1)
            uow.emit(Envelope("compute.instance.update", "test", {"state": "error"}, trace=trace))
            await uow.commit()
        envelope = await asyncio.wait_for(received.get(), 10)
        assert envelope.trace == trace
        await asyncio.wait_for(runtime.profile_recorder.flush(), 10)
        profile = await runtime.profiles.get(trace.trace_id)
        # the relay stamps T05 when it hands the instance notification to the bus
        assert profile.present == ["T00", "T01", "T04", "T05", "T06"]
        assert profile.problems() == ["missing checkpoints: T02, T03, T07, T08, T09, T10"]
    finally:
        await subscription.unsubscribe()
        await runtime.stop()


class _Consumer(BaseHTTPRequestHandler):
    """A consumer's alarm webhook: reads the trace header, posts T09/T10 back."""

    server_url = ""
    token = ""
    answers: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        received = time.time()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        trace = trace_from_headers(dict(self.headers.items()))
        self.send_response(200)
        self.end_headers()
        if trace is None:
            return
        handled = time.time()
        answer = httpx.post(
            f"{self.server_url}/v1/profiles/{trace.trace_id}/checkpoints",
            json={"checkpoints": {"T09": received, "T10": handled}, "process": "vnfm"},
            headers={"X-Auth-Token": self.token},
            timeout=10,
        )
        self.answers.append(answer.json())

    def log_message(self, *args: Any) -> None:
        pass


def test_consumer_posts_its_checkpoints_from_the_webhook_trace(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        token = server.token()
        _Consumer.server_url, _Consumer.token, _Consumer.answers = server.url, token, []
        receiver = HTTPServer(("127.0.0.1", 0), _Consumer)
        thread = threading.Thread(target=receiver.serve_forever, daemon=True)
        thread.start()
        try:
            # The server side of the trace (as the alarm evaluator would have stamped it) ...
            trace = open_trace()
            t0 = time.time()
            with server.client(token) as http:
                http.post(
                    f"/v1/profiles/{trace.trace_id}/checkpoints",
                    json={"checkpoints": {"T00": t0 - 0.05, "T08": t0}},
                )
            # ... then the alarm's webhook, carrying the trace in its headers.
            url = f"http://127.0.0.1:{receiver.server_address[1]}/alarm"
            httpx.post(url, content=json.dumps({"alarm": "a1"}), headers=trace_headers(trace))
            assert _Consumer.answers and _Consumer.answers[0]["recorded"] == ["T09", "T10"]
            with server.client(token) as http:
                export = http.get(f"/v1/profiles/{trace.trace_id}").json()["profile"]
            assert export["T09"] is not None and export["T09"] >= export["T08"] - 1
            assert export["M05"] is not None  # the consumer's module is measured
            assert export["checkpoints"][10]["meta"]["process"] == "vnfm"
        finally:
            receiver.shutdown()
            receiver.server_close()
