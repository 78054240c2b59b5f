"""Job dispatch: arq over Redis in production, an in-process dispatcher in embedded mode.

Both run the same task functions ``async def task(ctx, *args)``; ``ctx["runtime"]`` holds the
process's :class:`~gateway.kit.runtime.Runtime`. Tasks signal transient failure by raising
``arq.Retry(defer=…)``; the in-process dispatcher honours it the same way (up to ``max_tries``).
Postgres stays the source of truth: a failed enqueue is logged and left to the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from arq import ArqRedis, Retry

logger = logging.getLogger(__name__)

TaskFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class PeriodicJob:
    """A function run every ``interval_seconds`` (arq cron in production)."""

    name: str
    function: TaskFn
    interval_seconds: float


class JobQueue(Protocol):
    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str | None = None,
        defer_seconds: float | None = None,
    ) -> bool:
        """Send a job; False when it could not be sent (the sweeper will catch up)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def backoff_seconds(job_try: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter for retry number ``job_try`` (1-based)."""
    ceiling: float = min(cap, base * (2 ** max(0, job_try - 1)))
    return random.uniform(ceiling / 2, ceiling)


class ArqQueue:
    def __init__(self, redis: ArqRedis, queue_name: str) -> None:
        self._redis = redis
        self._queue_name = queue_name

    @property
    def redis(self) -> ArqRedis:
        """The pool jobs go through (a ``redis.asyncio.Redis``), shared by the rate limiter."""
        return self._redis

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str | None = None,
        defer_seconds: float | None = None,
    ) -> bool:
        try:
            await self._redis.enqueue_job(
                function,
                *args,
                _job_id=job_id,
                _defer_by=defer_seconds,
                _queue_name=self._queue_name,
            )
        except (OSError, ConnectionError, TimeoutError) as exc:
            logger.warning(
                "enqueue of %s failed, sweeper will retry: %s", function, type(exc).__name__
            )
            return False
        except Exception as exc:  # redis-py raises its own ConnectionError hierarchy
            if type(exc).__module__.startswith("redis"):
                logger.warning(
                    "enqueue of %s failed, sweeper will retry: %s", function, type(exc).__name__
                )
                return False
            raise
        return True

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._redis.aclose()


class InProcessQueue:
    """Runs jobs as asyncio tasks in this process (embedded mode), same semantics as arq."""

    def __init__(
        self,
        functions: Mapping[str, TaskFn],
        *,
        ctx: dict[str, Any],
        max_tries: int = 5,
        concurrency: int = 32,
    ) -> None:
        self._functions = dict(functions)
        self._ctx = ctx
        self._max_tries = max_tries
        self._sem = asyncio.Semaphore(concurrency)
        self._active: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str | None = None,
        defer_seconds: float | None = None,
    ) -> bool:
        if self._closed:
            return False
        if function not in self._functions:
            raise KeyError(f"unknown task {function!r}")
        if job_id is not None:
            if job_id in self._active:
                return True
            self._active.add(job_id)
        self._spawn(function, args, job_id, defer_seconds or 0.0, 1)
        return True

    def _spawn(
        self, function: str, args: tuple[Any, ...], job_id: str | None, delay: float, job_try: int
    ) -> None:
        task = asyncio.create_task(self._run(function, args, job_id, delay, job_try))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, function: str, args: tuple[Any, ...], job_id: str | None, delay: float, job_try: int
    ) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        ctx = dict(self._ctx, job_try=job_try, job_id=job_id)
        try:
            async with self._sem:
                await self._functions[function](ctx, *args)
        except Retry as retry:
            if job_try < self._max_tries and not self._closed:
                defer = retry.defer_score / 1000 if retry.defer_score else backoff_seconds(job_try)
                self._spawn(function, args, job_id, defer, job_try + 1)
                return
            logger.error("job %s gave up after %d tries", function, job_try)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job %s failed", function)
        if job_id is not None:
            self._active.discard(job_id)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no job is running or scheduled (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=0.05)

    async def ping(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
