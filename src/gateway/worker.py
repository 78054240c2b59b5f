"""arq ``WorkerSettings``: startup/shutdown own the engine, Redis and the shared HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any, ClassVar

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker, func, get_kwargs
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway import jobs
from gateway.kit.logging import configure_logging
from gateway.kit.runtime import open_runtime
from gateway.kit.settings import Settings


def cron_schedule(interval: float) -> dict[str, set[int]]:
    """arq cron fields for "every ``interval`` seconds" (rounded to what cron can express).

    arq treats an omitted field as "every value", so intervals of a minute or more must pin
    the second (and, from an hour on, the minute) or the job would run every second.
    """
    step = max(1, math.ceil(interval))
    if step < 60:
        return {"second": set(range(0, 60, step))}
    minutes = max(1, round(step / 60))
    if minutes < 60:
        return {"second": {0}, "minute": set(range(0, 60, minutes))}
    hours = max(1, min(24, round(minutes / 60)))
    return {"second": {0}, "minute": {0}, "hour": set(range(0, 24, hours))}


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    stack = contextlib.AsyncExitStack()
    ctx["runtime"] = await stack.enter_async_context(open_runtime(settings, tasks=jobs.TASKS))
    ctx["exit_stack"] = stack


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: contextlib.AsyncExitStack | None = ctx.get("exit_stack")
    if stack is not None:
        await stack.aclose()


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise SystemExit("GATEWAY_REDIS_URL is required for `gateway worker`")
    rs = RedisSettings.from_dsn(settings.redis_url)
    # Survive Redis blips (arq#435): retry commands on connection errors.
    rs.retry_on_error = [RedisConnectionError]
    rs.conn_retries = 10
    return rs


class WorkerSettings:
    functions: ClassVar[list[Any]] = [
        func(fn, name=name)  # type: ignore[arg-type]
        for name, fn in jobs.TASKS.items()
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(
            job.function,  # type: ignore[arg-type]
            name=job.name,
            **cron_schedule(job.interval_seconds),  # type: ignore[arg-type]
            run_at_startup=True,
            unique=True,
        )
        for job in jobs.PERIODIC
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = Settings().queue_name
    max_jobs = 64
    # arq waits this long between polls of an idle queue (default 0.5 s): every queue hop
    # (ingest batch -> processing -> deliveries) would add up to that much latency.
    poll_delay = 0.05
    job_timeout = 60
    max_tries = 8
    keep_result = 60


class GatewayWorker(Worker):
    """arq's worker, except that the jobs in flight always finish before the process exits.

    When Redis goes away, arq's poll loop raises and ``close()`` gathers the running jobs without
    ``return_exceptions``: the first job whose queue bookkeeping fails ends the wait, and the
    process exits with the other jobs cut mid-flight (a delivery POSTed but not yet recorded,
    sent again later by the sweeper: a duplicate the subscriber sees). Waiting for every job
    first records each side effect before the exit; the supervisor then restarts the worker.
    """

    async def close(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            # Every job has ended: recorded, or cancelled by the signal to run again. arq's own
            # close() gathers them again without return_exceptions, and a job the signal cut
            # before its bookkeeping began re-raised its CancelledError there: exit 1 on a
            # clean SIGTERM.
            self.tasks.clear()
        await super().close()


def run_worker(settings: Settings) -> None:
    """``gateway worker``: serve the queue until SIGTERM/SIGINT (or Redis is lost)."""
    GatewayWorker(
        **get_kwargs(WorkerSettings),  # type: ignore[arg-type]
        redis_settings=redis_settings(settings),
    ).run()
