"""Group commit for the webhook inbox: many concurrent deliveries, one INSERT, one commit.

    request ─submit(row)─► pending ──(window elapsed, or max_batch waiting)──► flush task
       ▲                                                                        │
       └──── future: True (new) / False (duplicate) / InboxUnavailable ◄────────┤
                                                                                 ▼
        INSERT … VALUES (…), (…) ON CONFLICT (endpoint_id, provider_event_id) DO NOTHING
        RETURNING id   — one statement in autocommit mode = one transaction, durable on return
                                                                                 │
                                        on_commit(new rows) → one queue job per batch

Every waiter of a batch is answered only after its statement committed; any failure (database
down, timeout, shutdown) fails every waiter of that batch, so nothing is acknowledged that was
not stored. While ``max_inflight`` flushes run, new rows accumulate and go out together as soon
as a flush slot frees up, so batches grow with the load (classic group commit).

The batcher keeps its own few connections checked out (no pool pre-ping per batch); a broken
connection is discarded and the statement retried once on a fresh one (the insert is
idempotent: a retried row that had in fact been stored is reported as a duplicate, still 2xx).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.webhooks.repository import STALE_CONNECTION_ERRORS, insert_inbox_rows

logger = logging.getLogger(__name__)

#: Called after each commit with the rows that were new (duplicates left out), in order.
OnCommit = Callable[[list[dict[str, Any]]], Awaitable[None]]
_Waiter = tuple[dict[str, Any], "asyncio.Future[bool]"]


class InboxUnavailable(Exception):
    """The batch holding this row could not be committed; nothing was acknowledged."""


class InboxBatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        on_commit: OnCommit,
        *,
        window_seconds: float = 0.002,
        max_batch: int = 256,
        max_inflight: int = 2,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._engine = engine
        self._on_commit = on_commit
        self._window = window_seconds
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._timeout = timeout_seconds
        self._pending: list[_Waiter] = []
        self._timer: asyncio.TimerHandle | None = None
        self._inflight = 0
        self._idle: list[AsyncConnection] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, row: dict[str, Any]) -> bool:
        """Store ``row`` durably: True if it was new, False if (endpoint, event id) existed.

        Raises :class:`InboxUnavailable` when its batch could not be committed.
        """
        if self._closed:
            raise InboxUnavailable("the inbox is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((row, future))
        if len(self._pending) >= self._max_batch:
            self._start_flushes()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._on_timer)
        return await future

    def _on_timer(self) -> None:
        self._timer = None
        self._start_flushes()

    def _start_flushes(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending and self._inflight < self._max_inflight:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[_Waiter]) -> None:
        new_ids: set[str] = set()
        try:
            new_ids = await self._commit([row for row, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(InboxUnavailable(type(exc).__name__))
            if isinstance(exc, asyncio.CancelledError):
                raise
            logger.warning("inbox batch of %d rows not stored: %s", len(batch), type(exc).__name__)
            return
        else:
            for row, future in batch:
                if not future.done():
                    future.set_result(row["id"] in new_ids)
        finally:
            self._inflight -= 1
            if self._pending and not self._closed:
                self._start_flushes()
        if new_ids:
            stored = [row for row, _ in batch if row["id"] in new_ids]
            try:
                await self._on_commit(stored)
            except Exception:
                # Stored is what matters; the sweeper enqueues whatever was not.
                logger.exception("enqueue after inbox commit failed")

    async def _commit(self, rows: list[dict[str, Any]]) -> set[str]:
        unique: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            unique.setdefault((row["endpoint_id"], row["provider_event_id"]), row)
        for attempt in (1, 2):
            conn = await self._connection()
            try:
                async with asyncio.timeout(self._timeout):
                    new_ids = await insert_inbox_rows(conn, list(unique.values()))
            except BaseException as exc:
                await self._discard(conn)
                stale = isinstance(exc, STALE_CONNECTION_ERRORS) or (
                    isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
                )
                if attempt == 1 and stale:
                    continue
                raise
            self._idle.append(conn)
            return new_ids
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(self) -> AsyncConnection:
        if self._idle:
            return self._idle.pop()
        conn = await self._engine.connect()
        try:
            # One multi-row statement is one transaction: autocommit saves BEGIN/COMMIT trips.
            return await conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await conn.close()
            raise

    @staticmethod
    async def _discard(conn: AsyncConnection) -> None:
        try:
            await conn.invalidate()
            await conn.close()
        except Exception:  # already broken; nothing more to release
            logger.debug("closing a broken inbox connection failed", exc_info=True)

    async def wait_idle(self) -> None:
        """Wait until nothing is pending or in flight (post-commit enqueues included)."""
        while self._pending or self._tasks:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(self._window)

    async def close(self) -> None:
        """Flush what is waiting, wait for in-flight batches, release the connections."""
        if self._pending:
            self._start_flushes()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if self._pending:
                self._start_flushes()
        self._closed = True
        for _, future in self._pending:
            if not future.done():
                future.set_exception(InboxUnavailable("the inbox is shutting down"))
        self._pending.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
