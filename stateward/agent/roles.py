"""Run the agent's roles (heartbeat, local controller, ...) side by side as one unit."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def run_together(roles: list[Coroutine[Any, Any, None]]) -> None:
    """Run every role until one ends or fails: then stop the others and re-raise its error.

    A chassis agent is all its roles or nothing: a heartbeat that goes on while the local
    controller died would report a chassis as healthy whose flows nobody maintains.
    """
    tasks = [asyncio.ensure_future(role) for role in roles]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
