"""The plumbing of single-flight refresh: in-process coalescing and the lock transactions.

Three layers keep a connection's refresh to one token-endpoint call at a time:

1. **In-process coalescing** — one ``asyncio.Task`` per connection in ``runtime.extras``; every
   caller in this process awaits it (shielded: a caller giving up does not cancel a refresh whose
   rotated token still has to be committed).
2. **Cross-process row lock** — the task refreshes inside its own short transaction that holds
   the connection's row lock (``repository.lock``) and commits the new tokens before releasing it.
3. **Re-read after acquiring** — the locked row decides whether a refresh is still needed.

Lock transactions come from a separate engine without a pool (``NullPool``): the callers waiting
for a refresh each hold a connection of the main pool, and the refresh must never queue behind
them for one. Nothing stays open, so the engine needs no disposal.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.kit.db import SessionMaker, create_engine, create_sessionmaker
from gateway.kit.runtime import Runtime

T = TypeVar("T")

_LOCK_MAKER: Final = "connections.lock_sessionmaker"
_INFLIGHT: Final = "connections.refresh_inflight"


def lock_sessionmaker(runtime: Runtime) -> SessionMaker:
    """Sessions for lock transactions (created on first use, kept in ``runtime.extras``)."""
    maker: SessionMaker | None = runtime.extras.get(_LOCK_MAKER)
    if maker is None:
        settings = runtime.settings
        if settings.is_sqlite:
            engine = create_engine(settings, poolclass=NullPool)
        else:
            engine = create_async_engine(
                settings.resolved_database_url, poolclass=NullPool, connect_args={"timeout": 5}
            )
        maker = create_sessionmaker(engine)
        runtime.extras[_LOCK_MAKER] = maker
    return maker


async def holds_sqlite_write_lock(session: AsyncSession) -> bool:
    """Whether ``session`` has written on SQLite, i.e. holds the database's only write lock.

    Python's sqlite3 opens a transaction only before the first INSERT/UPDATE/DELETE, so its
    ``in_transaction`` flag tells exactly that. Another transaction's write would then wait for
    this session to finish: a refresh must run inside it instead of beside it.
    """
    if session.bind is None or session.bind.dialect.name != "sqlite":
        return False
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    return bool(getattr(driver, "in_transaction", False))


class _LeaderCancelled(Exception):
    """The refresh task was cancelled (shutdown); waiters start their own."""


def _forget(inflight: dict[str, asyncio.Task[Any]], key: str, task: asyncio.Task[Any]) -> None:
    if inflight.get(key) is task:
        del inflight[key]
    if not task.cancelled():
        task.exception()  # retrieved here so an unawaited failure is not reported as lost


async def coalesced(runtime: Runtime, key: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` once per ``key`` at a time in this process; concurrent callers share it."""
    inflight: dict[str, asyncio.Task[Any]] = runtime.extras.setdefault(_INFLIGHT, {})
    while True:
        task = inflight.get(key)
        if task is None or task.done():

            async def run() -> T:
                try:
                    return await work()
                except asyncio.CancelledError:
                    raise _LeaderCancelled() from None

            task = asyncio.ensure_future(run())
            inflight[key] = task
            task.add_done_callback(functools.partial(_forget, inflight, key))
        try:
            result: T = await asyncio.shield(task)
            return result
        except _LeaderCancelled:
            continue
