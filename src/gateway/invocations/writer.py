"""Group commit for the invocation log: rows from many invocations, one INSERT, one commit.

    invoke ─add(row)─► pending ──(window elapsed, or max_batch waiting)──► flush task
      │                                                                     │
      └─ answers the caller at once                  INSERT … VALUES (…), (…); COMMIT
                                                     (one batch in flight at a time; on a
                                                     SQLite file, on the writer's own
                                                     connection: ``sqlite_sink``)
    GET /v1/invocations[/{id}] ─flush()─► waits until every row added before it is written

An invocation's row is written after its response: the caller has the call's result in hand,
and the log is the record of it. Writing it on the request path cost every invoke a write
transaction (SQLite's single write lock, several aiosqlite thread hops; a WAL flush on
PostgreSQL) — more than everything else the gateway does for a call.

What this changes:

- **Read-your-writes holds in one process**: the log routes call :meth:`InvocationLogWriter.flush`
  before reading. Another replica shows the row within ``window_seconds`` (plus one batch).
- **A crash can lose log rows, never results**: rows of the last window (and, while the
  database is unreachable, up to ``max_pending`` rows kept for retry) are lost if the process
  dies. Nothing a caller was told depends on them. A clean shutdown (:meth:`close`, from the
  invocations router's lifespan) writes everything.
- **Idempotent requests are not batched**: with an ``Idempotency-Key`` the row and the stored
  result are written in the request's own transaction, committed before the response
  (``tools.service``), so a replay always finds both.

A failed batch goes back to the front of the queue and is retried after ``retry_seconds``;
beyond ``max_pending`` rows the oldest are dropped, logged by count only (rows are redacted,
but the log of the log carries no bodies either).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.invocations import repository
from gateway.invocations.sqlite_sink import SqliteLogSink
from gateway.kit.runtime import Runtime

logger = logging.getLogger(__name__)

STATE_KEY: Final = "invocations.writer"


class InvocationLogWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        window_seconds: float = 0.05,
        max_batch: int = 500,
        max_pending: int = 20_000,
        retry_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        sink: SqliteLogSink | None = None,
    ) -> None:
        self._engine = engine
        #: SQLite: the writer's own connection (``sqlite_sink``); else the engine's pool.
        self._sink = sink
        self._window = window_seconds
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._retry = retry_seconds
        self._timeout = timeout_seconds
        self._pending: list[dict[str, Any]] = []
        #: Rows ever added / rows written or dropped: ``flush`` waits for the second to pass the
        #: first as it was on entry (rows are written in order, one batch at a time).
        self._added = 0
        self._settled = 0
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[bool] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Rows not yet written."""
        return self._added - self._settled

    def add(self, row: dict[str, Any]) -> None:
        """Queue one ``tool_invocations`` row; it is written within ``window_seconds``."""
        if self._closed:
            raise RuntimeError("the invocation log writer is closed")
        self._pending.append(row)
        self._added += 1
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            del self._pending[:overflow]
            self._settled += overflow
            logger.warning("invocation log: %d rows dropped (database unreachable)", overflow)
        if len(self._pending) >= self._max_batch:
            self._start()
        elif self._timer is None and self._task is None:
            self._timer = asyncio.get_running_loop().call_later(self._window, self._start)

    async def flush(self) -> None:
        """Wait until every row added before this call is written (or given up on for now:
        returns after one failed attempt rather than wait out a database outage)."""
        target = self._added
        while self._settled < target:
            self._start()
            task = self._task
            if task is None:
                return
            failed = await asyncio.shield(task)
            if failed:
                return

    async def close(self) -> None:
        """Write what is waiting, then refuse new rows."""
        while self._pending or self._task is not None:
            self._start()
            task = self._task
            if task is None:
                break
            if await asyncio.shield(task):
                logger.error("invocation log: %d rows not written at shutdown", len(self._pending))
                break
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sink is not None:
            await self._sink.close()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is None and self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._task = asyncio.get_running_loop().create_task(self._write(batch))

    async def _write(self, batch: list[dict[str, Any]]) -> bool:
        """Write one batch; True when it failed (its rows are queued again)."""
        failed = False
        try:
            async with asyncio.timeout(self._timeout):
                if self._sink is not None:
                    await self._sink.insert(batch)
                else:
                    async with self._engine.begin() as conn:
                        await repository.insert_many(conn, batch)
        except Exception as exc:
            failed = True
            self._pending[:0] = batch
            logger.warning(
                "invocation log: batch of %d rows not written, retrying: %s",
                len(batch),
                type(exc).__name__,
            )
        else:
            self._settled += len(batch)
        finally:
            self._task = None
        if self._pending and not self._closed:
            if len(self._pending) >= self._max_batch and not failed:
                self._start()
            else:
                # Wait a window (or the retry delay) again rather than write what arrived
                # during this batch at once: nobody waits for these rows, and a batch's fixed
                # cost (a transaction) is what grouping saves.
                delay = self._retry if failed else self._window
                self._timer = asyncio.get_running_loop().call_later(delay, self._start)
        return failed


def log_writer(runtime: Runtime) -> InvocationLogWriter | None:
    """This process's writer; None outside the API (a worker, a script): write in the
    caller's transaction instead."""
    writer = runtime.extras.get(STATE_KEY)
    return writer if isinstance(writer, InvocationLogWriter) else None


async def flush_log(runtime: Runtime) -> None:
    """Make this process's queued rows visible before reading the log."""
    writer = log_writer(runtime)
    if writer is not None and writer.pending:
        await writer.flush()
