"""The log writer's own SQLite connection, in a thread of its own: one thread hop per batch.

Through the engine, a batch costs aiosqlite a hop to its thread and back for every step
(checkout, BEGIN, the INSERT, COMMIT, the pool's reset), each one a wake-up of the event loop
and a greenlet switch: ~0.4 ms of event-loop CPU per batch, ~5 µs per logged row at the
bench's batch sizes (``docs/benchmarks-act.md``). Here the whole transaction runs in one call on
a thread that owns its connection.

Same database file, same statements (``repository.sqlite_batch``), same upsert: a batch whose
commit outcome was unknown (a timeout) is simply written again. ``BEGIN IMMEDIATE`` takes the
write lock up front and waits for it like every other connection (``busy_timeout``); a failed
batch closes the connection, and the next batch opens a fresh one. While one batch waits for
the lock, a retry the writer gives up on is cancelled before it starts (``run_in_executor``
chains the cancellation), so retries do not pile up behind it.

Only a plain database file gets a sink (:meth:`SqliteLogSink.for_engine`): an in-memory database
is private to its connection, and URI options are the engine's to interpret.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.invocations import repository

BUSY_TIMEOUT_SECONDS = 30


class SqliteLogSink:
    def __init__(self, path: str, dialect: sa.Dialect) -> None:
        self._path = path
        self._dialect = dialect
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="invocation-log")
        self._conn: sqlite3.Connection | None = None  # used only on the executor's thread
        self._closed = False

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> SqliteLogSink | None:
        """A sink for ``engine``'s database file; None for other databases (they keep the
        engine's path), an in-memory database, URI options, or SQLite before 3.38."""
        url = engine.url
        path = url.database
        if engine.dialect.name != "sqlite" or not repository.SQLITE_JSON_EACH:
            return None
        if not path or path == ":memory:" or path.startswith("file:") or url.query:
            return None
        return cls(path, engine.dialect)

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        """Store ``rows`` in one transaction (rows already stored are skipped)."""
        statements = repository.sqlite_batch(self._dialect, rows)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._run, statements)

    async def close(self) -> None:
        """Close the connection and end the thread (waits for a batch still running)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)

    def _run(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        conn = self._conn or self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement, parameters in statements:
                conn.execute(statement, parameters)
            conn.execute("COMMIT")
        except BaseException:
            self._disconnect()  # rolls back whatever is open; the next batch reconnects
            raise

    def _connect(self) -> sqlite3.Connection:
        # ``timeout`` is SQLite's busy timeout: wait for another writer's lock, as the engine does
        conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
