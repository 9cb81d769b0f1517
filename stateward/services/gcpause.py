"""Pausing the cyclic garbage collector during a burst of allocations on the fault path.

A host fault at 1,000 VMs builds ~2,000 notifications with their rows in one transaction, and an
alarm batch hundreds more: enough allocations to trigger young collections and, sooner or
later, a full one, which on a server holding a large alarm index stops the event loop for
hundreds of milliseconds (measured: docs/benchmarks/fault.md). Almost everything allocated
there is acyclic and freed by reference counting as soon as it is committed, so the collector
waits until the burst is over and then runs on what survived. Reentrant across tasks: the
collector is enabled again when the last section ends (never if something else disabled it).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_depth = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    global _depth
    if _depth == 0 and not gc.isenabled():
        yield  # disabled by someone else: not ours to enable again
        return
    _depth += 1
    gc.disable()
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.enable()
