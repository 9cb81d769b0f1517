"""Schema migrations, run from ``stateward db upgrade`` or by ``serve`` on an empty database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema up to date (blocking; run it in a thread from async code)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    await asyncio.to_thread(upgrade, url, revision)


async def current_heads(url: str) -> set[str]:
    """The revisions the database is at (empty for a new database)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(
                await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_heads()
                )
            )
    finally:
        await engine.dispose()


def code_heads(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def pending_revisions(url: str, current: set[str]) -> list[str]:
    """The revisions a database at ``current`` still lacks, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(url))
    applied: set[str] = set()
    for head in current:
        applied.update(rev.revision for rev in script.iterate_revisions(head, "base"))
    ordered = reversed(list(script.walk_revisions()))
    return [r.revision for r in ordered if r.revision not in applied]
