"""Image data on a filesystem (Glance's ``file`` store): one file per image under one directory.

Writes go to a temporary file in the same directory and are renamed into place once complete,
so a reader (in any process sharing the directory) never sees half an image. Checksums are
computed while the data streams through; blocking file I/O runs in a worker thread so the event
loop (and the fault chain sharing it) never waits on a disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from stateward.domain.image import HASH_ALGO


class TooLarge(Exception):
    """The data went past the size cap; nothing was kept."""


@dataclass(frozen=True)
class Stored:
    location: str  # file name relative to the store directory
    size: int
    md5: str
    os_hash_value: str


class ImageFileStore:
    def __init__(self, path: Path, *, chunk_size: int = 65536) -> None:
        self.path = path
        self.chunk_size = chunk_size

    def _ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def write(self, image_id: str, data: AsyncIterator[bytes], *, limit: int) -> Stored:
        """Store ``data`` for ``image_id``; raises TooLarge past ``limit`` bytes."""
        await asyncio.to_thread(self._ensure)
        location = f"{image_id}"
        partial = self.path / f".{image_id}.{uuid.uuid4().hex}.partial"
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.new(HASH_ALGO)
        size = 0
        out: BinaryIO = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in data:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"Image exceeds the maximum size of {limit} bytes.")
                await asyncio.to_thread(_write_and_hash, out, chunk, md5, sha)
            await asyncio.to_thread(_close_synced, out)
            await asyncio.to_thread(os.replace, partial, self.path / location)
        except BaseException:
            await asyncio.to_thread(out.close)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(partial.unlink)
            raise
        return Stored(location, size, md5.hexdigest(), sha.hexdigest())

    async def read(self, location: str) -> AsyncIterator[bytes]:
        """The stored bytes, chunk by chunk."""
        handle: BinaryIO = await asyncio.to_thread((self.path / location).open, "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(handle.read, self.chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    def exists(self, location: str) -> bool:
        return (self.path / location).is_file()

    async def delete(self, location: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread((self.path / location).unlink)


def _write_and_hash(out: BinaryIO, chunk: bytes, md5: hashlib._Hash, sha: hashlib._Hash) -> None:
    out.write(chunk)
    md5.update(chunk)
    sha.update(chunk)


def _close_synced(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
