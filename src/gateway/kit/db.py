"""Async engine and sessions; the request/job owns the transaction.

Services call ``flush()``, never ``commit()``. Whoever opened the session (the request dependency,
a job, a CLI command) commits once; jobs collected with :func:`enqueue_after_commit` are sent only
after that commit succeeded and are dropped on rollback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.kit.settings import Settings

SessionMaker = async_sessionmaker[AsyncSession]

# Errors that mean "the database is not reachable right now" → 503, never a 2xx or a 500.
DB_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    ConnectionError,
    OSError,
    TimeoutError,
)


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", 5)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", 5)
    return create_async_engine(url, connect_args=connect_args, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True)
class PendingJob:
    function: str
    args: tuple[Any, ...] = ()
    job_id: str | None = None
    defer_seconds: float | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def enqueue_after_commit(session: AsyncSession, job: PendingJob) -> None:
    """Queue a job to be sent once this session's transaction has committed."""
    session.info.setdefault("pending_jobs", []).append(job)


def take_pending_jobs(session: AsyncSession) -> list[PendingJob]:
    jobs: list[PendingJob] = session.info.pop("pending_jobs", [])
    return jobs


@asynccontextmanager
async def transaction(maker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed on success and rolled back on error.

    Pending jobs are left in ``session.info`` for the caller to dispatch after the block.
    """
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop("pending_jobs", None)
            await session.rollback()
            raise
