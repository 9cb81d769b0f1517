"""ICMP echo without a process per probe: one socket, replies matched by sequence number.

A raw socket needs root (or CAP_NET_RAW); an unprivileged ICMP datagram socket works where
``net.ipv4.ping_group_range`` allows it; otherwise each probe runs ``ping -c 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import struct

log = logging.getLogger(__name__)

ECHO_REQUEST = 8
ECHO_REPLY = 0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"stateward-monitor") -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, csum, ident, seq) + payload


def parse_reply(packet: bytes, raw: bool) -> tuple[int, int] | None:
    """(ident, seq) of an echo reply; None for anything else."""
    if raw:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    kind, _code, _csum, ident, seq = struct.unpack("!BBHHH", packet[:8])
    if kind != ECHO_REPLY:
        return None
    return ident, seq


class Pinger:
    """``await pinger.ping(ip, timeout)`` → True when an echo reply came back in time."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._raw = False
        self._ident = os.getpid() & 0xFFFF
        self._seq = itertools.count(1)
        self._waiting: dict[tuple[str, int], asyncio.Future[None]] = {}
        self.mode = "subprocess"
        for kind, raw in ((socket.SOCK_RAW, True), (socket.SOCK_DGRAM, False)):
            try:
                self._sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
            except OSError:
                continue
            self._sock.setblocking(False)
            self._raw = raw
            self.mode = "raw" if raw else "datagram"
            break
        self._reading = False

    def close(self) -> None:
        if self._sock is not None:
            if self._reading:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                packet, (address, _port) = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            parsed = parse_reply(packet, self._raw)
            if parsed is None:
                continue
            ident, seq = parsed
            if self._raw and ident != self._ident:
                continue  # another process' ping (datagram sockets get only their own)
            future = self._waiting.pop((address, seq), None)
            if future is not None and not future.done():
                future.set_result(None)

    async def ping(self, ip: str, timeout: float) -> bool:
        if self._sock is None:
            return await self._ping_subprocess(ip, timeout)
        loop = asyncio.get_running_loop()
        if not self._reading:
            loop.add_reader(self._sock.fileno(), self._on_readable)
            self._reading = True
        seq = next(self._seq) & 0xFFFF
        future: asyncio.Future[None] = loop.create_future()
        self._waiting[(ip, seq)] = future
        try:
            self._sock.sendto(echo_request(self._ident, seq), (ip, 0))
            await asyncio.wait_for(future, timeout)
            return True
        except (TimeoutError, OSError):
            return False
        finally:
            self._waiting.pop((ip, seq), None)

    @staticmethod
    async def _ping_subprocess(ip: str, timeout: float) -> bool:
        process = await asyncio.create_subprocess_exec(
            "ping",
            "-n",
            "-c",
            "1",
            "-W",
            f"{max(timeout, 0.1):.1f}",
            ip,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            return await asyncio.wait_for(process.wait(), timeout + 1) == 0
        except TimeoutError:
            process.kill()
            return False
