"""The ping monitor's decisions with a scripted probe: report down once, up once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stateward.monitor.icmp import checksum, echo_request, parse_reply
from stateward.monitor.ping import PingMonitor, Target, parse_target


async def test_reports_down_once_after_silence_and_up_when_answering_again() -> None:
    answering = {"10.0.0.1": True, "10.0.0.2": True}
    reports: list[dict[str, Any]] = []

    async def probe(ip: str, timeout: float) -> bool:
        if answering[ip]:
            return True
        await asyncio.sleep(timeout)
        return False

    async def report(events: list[dict[str, Any]]) -> None:
        reports.extend(events)

    monitor = PingMonitor(
        [Target("a", "10.0.0.1"), Target("b", "10.0.0.2")],
        probe,
        report,
        interval=0.01,
        down_after=0.05,
        monitor="m",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    await asyncio.sleep(0.2)
    assert reports == []
    answering["10.0.0.1"] = False
    await asyncio.sleep(0.3)
    assert [(r["type"], r["details"]["hostname"]) for r in reports] == [("compute.host.down", "a")]
    assert reports[0]["details"]["monitor"] == "m"
    assert reports[0]["details"]["monitor_event_id"] == reports[0]["id"]
    answering["10.0.0.1"] = True
    await asyncio.sleep(0.2)
    stop.set()
    await task
    assert [(r["type"], r["details"]["status"]) for r in reports] == [
        ("compute.host.down", "down"),
        ("compute.host.up", "up"),
    ]


def test_parse_target() -> None:
    assert (parse_target("h1=10.0.0.1").name, parse_target("h1=10.0.0.1").ip) == ("h1", "10.0.0.1")
    with pytest.raises(ValueError):
        parse_target("h1")


def test_echo_packets() -> None:
    packet = echo_request(7, 9)
    assert checksum(packet) == 0
    reply = b"\x00" + packet[1:]
    assert parse_reply(reply, raw=False) == (7, 9)
    ip_header = bytes([0x45]) + bytes(19)
    assert parse_reply(ip_header + reply, raw=True) == (7, 9)
    assert parse_reply(packet, raw=False) is None  # a request, not a reply
