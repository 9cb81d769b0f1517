"""Handler wrappers shared by every bus implementation."""

from __future__ import annotations

import pytest

from stateward.bus.base import idempotent
from stateward.domain.events import Envelope


async def test_duplicate_delivery_is_handled_once() -> None:
    calls: list[str] = []

    async def handler(envelope: Envelope) -> None:
        calls.append(envelope.message_id)

    wrapped = idempotent(handler)
    envelope = Envelope(event_type="port.update.end", publisher_id="t")
    await wrapped(envelope)
    await wrapped(envelope)
    assert calls == [envelope.message_id]


async def test_failed_attempt_stays_retryable() -> None:
    """A redelivery after a failure must reach the handler again (at least once)."""
    attempts = 0

    async def flaky(_: Envelope) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("store busy")

    wrapped = idempotent(flaky)
    envelope = Envelope(event_type="port.update.end", publisher_id="t")
    with pytest.raises(RuntimeError):
        await wrapped(envelope)
    await wrapped(envelope)
    await wrapped(envelope)
    assert attempts == 2
