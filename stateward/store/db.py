"""The store: one engine per process, and a unit of work (one transaction) per use case."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from stateward.domain.events import Envelope, utcnow
from stateward.store.tables import core

CommitListener = Callable[[list[tuple[int, Envelope]]], None]
PreCommitHook = Callable[["UnitOfWork", list[Envelope]], Awaitable[None]]


class Store:
    """Owns the engine. SQLite gets WAL, a busy timeout and one writer at a time."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        else:
            database = sa.engine.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._commit_listeners: list[CommitListener] = []
        self.pre_commit_hooks: list[PreCommitHook] = []
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called after each commit with the outbox rows it wrote (the relay's fast path)."""
        self._commit_listeners.append(listener)

    def add_pre_commit_hook(self, hook: PreCommitHook) -> None:
        """Run inside every writing transaction, before commit, with the events it emitted.

        This is how a role records its own rows atomically with a change it did not make
        (the SDN journal writes one row per resource change this way).
        """
        self.pre_commit_hooks.append(hook)

    def uow(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self, readonly=readonly)

    @contextlib.asynccontextmanager
    async def _writer(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    def _committed(self, rows: list[tuple[int, Envelope]]) -> None:
        for listener in self._commit_listeners:
            listener(rows)

    async def close(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN" if conn.info.get("sw_readonly") else "BEGIN IMMEDIATE")


class UnitOfWork:
    """One transaction for one use case, with the notifications it causes.

    Events given to ``emit`` are written to the outbox inside the same transaction, so a state
    change and its notification commit or vanish together; the relay publishes them after commit.

    Usage::

        async with store.uow() as uow:
            ...
            uow.emit(envelope)
            await uow.commit()

    Leaving the block without ``commit`` rolls back.
    """

    def __init__(self, store: Store, *, readonly: bool = False) -> None:
        self.store = store
        self.readonly = readonly
        self._conn: AsyncConnection | None = None
        self._events: list[Envelope] = []
        self._after_commit: list[Callable[[], None]] = []
        self._stack = contextlib.AsyncExitStack()
        self.committed = False

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its 'async with' block")
        return self._conn

    @property
    def dialect(self) -> str:
        return self.store.dialect

    async def __aenter__(self) -> UnitOfWork:
        if not self.readonly:
            await self._stack.enter_async_context(self.store._writer())
        conn = await self._stack.enter_async_context(self.store.engine.connect())
        sync_conn = conn.sync_connection
        assert sync_conn is not None
        sync_conn.info["sw_readonly"] = self.readonly
        await conn.begin()
        self._conn = conn
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._conn is not None and self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            self._conn = None
            await self._stack.aclose()

    def emit(self, envelope: Envelope) -> None:
        """Queue a notification to be written to the outbox with this transaction."""
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot emit notifications")
        self._events.append(envelope)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this transaction has committed (never if it rolls back):
        for hints to other processes about rows the transaction wrote (the agent feed)."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        rows: list[tuple[int, Envelope]] = []
        if self._events:
            for hook in self.store.pre_commit_hooks:
                await hook(self, self._events)
            now = utcnow()
            values = [
                {
                    "message_id": e.message_id,
                    "event_type": e.event_type,
                    "envelope": e.to_dict(),
                    "created_at": now,
                }
                for e in self._events
            ]
            result = await self.conn.execute(
                sa.insert(core.outbox).returning(core.outbox.c.id, core.outbox.c.message_id),
                values,
            )
            ids = {message_id: row_id for row_id, message_id in result.all()}
            rows = [(ids[e.message_id], e) for e in self._events]
        await self.conn.commit()
        self.committed = True
        self._events = []
        if rows:
            self.store._committed(rows)
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
