"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from stateward.config import ConfigError, Settings, load_settings
from stateward.domain.errors import DomainError

T = TypeVar("T")

ConfigOption = typer.Option(
    None, "--config", envvar="STATEWARD_CONFIG", help="TOML configuration file."
)
StateDirOption = typer.Option(None, "--state-dir", help="State directory (embedded database).")
DbOption = typer.Option(None, "--db", help="Database URL, e.g. postgresql://user@host/db.")
BusOption = typer.Option(None, "--bus", help="Bus URL: memory:// or nats://host:4222.")


def settings_from(
    config: Path | None,
    state_dir: Path | None = None,
    db: str | None = None,
    bus: str | None = None,
    **more: Any,
) -> Settings:
    try:
        return load_settings(
            config, state_dir=state_dir, **{"database.url": db, "bus.url": bus}, **more
        )
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; domain errors become a one-line message and exit code 1."""
    try:
        return asyncio.run(_call(coro_fn))
    except DomainError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


async def _call(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return await coro_fn()
