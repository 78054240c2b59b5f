"""Batched database access for the delivery engine (one per process, in ``runtime.extras``).

At 1,000 deliveries/s one query and one commit per delivery would be most of the work (a
PostgreSQL commit waits for a WAL flush; SQLite has one writer). Concurrent ``deliver`` jobs
therefore share statements::

    job ─load(id)──► pending ─┐                 ┌─► SELECT … WHERE deliveries.id IN (…)
    job ─load(id)──► pending ─┼─ one batch ─────┤
    job ─record(o)─► pending ─┘   in flight     └─► UPDATE … (executemany, guarded by job_seq)
                                                    SELECT id, job_seq, attempts … (who won)
                                                    INSERT delivery_attempts (executemany)
                                                    COMMIT  → every waiter of the batch answered

While a batch is in flight new requests queue up and go out together next (group commit), so
batches grow with the load and a lone job still gets its answer after one round trip. A failed
batch fails each of its waiters (the job then retries through the queue); nothing is reported
recorded that was not committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.kit.runtime import Runtime
from gateway.subscriptions import repository

K = TypeVar("K")
R = TypeVar("R")

_STORE_KEY = "subscriptions.delivery_store"


BatchFn = Callable[[AsyncConnection, list[K]], Awaitable[Sequence[R]]]


class Coalescer(Generic[K, R]):
    """Run ``batch_fn`` over every item submitted while earlier batches were in flight.

    Up to ``max_inflight`` flush tasks run at once. Each keeps one connection for as long as
    items keep arriving (no pool checkout and pre-ping per batch); a failed batch fails its own
    waiters only and the task continues on a fresh connection.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        batch_fn: BatchFn[K, R],
        *,
        autocommit: bool,
        max_batch: int = 256,
        max_inflight: int = 2,
    ) -> None:
        self._engine = engine
        self._batch_fn = batch_fn
        self._autocommit = autocommit
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._pending: list[tuple[K, asyncio.Future[R]]] = []
        # Counted by ``_run`` itself, not by task completion: a task that has seen an empty
        # queue and is about to return must not count, or an item submitted in between would
        # find every slot "busy" and wait forever.
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: K) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running < self._max_inflight:
            self._running += 1
            task = asyncio.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take(self) -> list[tuple[K, asyncio.Future[R]]]:
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        return batch

    async def _run(self) -> None:
        try:
            await self._drain()
        finally:
            # No await between the last look at ``_pending`` (in ``_drain``) and this line.
            self._running -= 1

    async def _drain(self) -> None:
        batch: list[tuple[K, asyncio.Future[R]]] = []
        try:
            while self._pending:
                try:
                    async with self._engine.connect() as conn:
                        if self._autocommit:
                            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                        while self._pending:
                            batch = self._take()
                            results = await self._batch_fn(conn, [item for item, _ in batch])
                            for (_, future), result in zip(batch, results, strict=True):
                                if not future.done():
                                    future.set_result(result)
                            batch = []
                except Exception as exc:
                    # This batch (or, if no connection could be had, everything waiting) fails;
                    # the jobs retry through the queue. The loop goes on with a new connection.
                    for _, future in batch or self._take():
                        if not future.done():
                            future.set_exception(exc)
                    batch = []
        except BaseException as exc:  # cancelled (shutdown): no waiter may hang
            for _, future in (*batch, *self._pending):
                if not future.done():
                    future.set_exception(exc)
            self._pending.clear()
            raise


@dataclass(frozen=True)
class Outcome:
    """One attempt's result: the delivery's new values (``repository.OUTCOME_FIELDS``, applied
    only if ``job_seq`` still names this job), the attempt row, and the subscription to
    disable (410 Gone) if any."""

    delivery_id: str
    job_seq: int
    values: dict[str, Any]
    attempt: dict[str, Any]
    disable_subscription: str | None
    disable_reason: str
    now: datetime


class DeliveryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        # One read in flight: a fast query, and waiting for it makes the next batch bigger.
        self._loads: Coalescer[str, RowMapping | None] = Coalescer(
            engine, self._load_batch, autocommit=True, max_inflight=1
        )
        # SQLite has one writer: a second write batch in flight would only wait for the lock.
        writers = 1 if engine.dialect.name == "sqlite" else 2
        self._records: Coalescer[Outcome, bool] = Coalescer(
            engine, self._record_batch, autocommit=False, max_inflight=writers
        )

    async def load(self, delivery_id: str) -> RowMapping | None:
        """The delivery with its subscription and event (None if it does not exist)."""
        return await self._loads.submit(delivery_id)

    async def record(self, outcome: Outcome) -> bool:
        """Commit the outcome; True if this job still owned the delivery (and it was applied)."""
        return await self._records.submit(outcome)

    @staticmethod
    async def _load_batch(conn: AsyncConnection, ids: list[str]) -> list[RowMapping | None]:
        rows = await repository.delivery_contexts(conn, list(dict.fromkeys(ids)))
        by_id = {row["id"]: row for row in rows}
        return [by_id.get(i) for i in ids]

    @staticmethod
    async def _record_batch(conn: AsyncConnection, outcomes: list[Outcome]) -> list[bool]:
        # One outcome per delivery per batch: a duplicate (same job twice) would race itself.
        latest: dict[str, Outcome] = {o.delivery_id: o for o in outcomes}
        async with conn.begin():
            await repository.apply_outcomes(
                conn, [(o.delivery_id, o.job_seq, o.values) for o in latest.values()]
            )
            states = await repository.delivery_states(conn, list(latest))
            won = [
                o
                for o in latest.values()
                if states.get(o.delivery_id) == (o.job_seq + 1, o.values["attempts"])
            ]
            await repository.insert_attempts(conn, [o.attempt for o in won])
            for outcome in won:
                if outcome.disable_subscription is not None:
                    await repository.disable_subscription_now(
                        conn, outcome.disable_subscription, outcome.disable_reason, outcome.now
                    )
        winners = {id(o) for o in won}
        return [id(o) in winners for o in outcomes]


def delivery_store(runtime: Runtime) -> DeliveryStore:
    store = runtime.extras.get(_STORE_KEY)
    if not isinstance(store, DeliveryStore):
        store = DeliveryStore(runtime.engine)
        runtime.extras[_STORE_KEY] = store
    return store
