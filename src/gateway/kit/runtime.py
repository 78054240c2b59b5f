"""Per-process infrastructure, owned by the app lifespan or the arq worker's startup.

Nothing here is a module global: the API keeps its :class:`Runtime` in ``app.state.runtime``, the
worker in ``ctx["runtime"]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from arq import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.kit.crypto import Keyring
from gateway.kit.db import PendingJob, SessionMaker, create_engine, create_sessionmaker
from gateway.kit.http import create_http_client
from gateway.kit.keystore import load_keyring
from gateway.kit.queue import ArqQueue, InProcessQueue, JobQueue, TaskFn
from gateway.kit.settings import Settings
from gateway.kit.ssrf import EgressPolicy


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: SessionMaker
    keyring: Keyring
    http: httpx.AsyncClient
    egress: EgressPolicy
    queue: JobQueue | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    async def dispatch(self, jobs: list[PendingJob]) -> None:
        """Send jobs collected during a transaction that has now committed."""
        if self.queue is None:
            return
        for job in jobs:
            await self.queue.enqueue(
                job.function, *job.args, job_id=job.job_id, defer_seconds=job.defer_seconds
            )


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, tasks: Mapping[str, TaskFn] | None = None, with_queue: bool = True
) -> AsyncIterator[Runtime]:
    """Build the process's runtime; with ``tasks`` and no Redis, an in-process dispatcher."""
    engine = create_engine(settings)
    egress = EgressPolicy.from_setting(settings.resolved_outbound_allowlist)
    http = create_http_client(policy=egress, timeout=settings.tool_timeout_seconds)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        keyring=load_keyring(settings),
        http=http,
        egress=egress,
    )
    try:
        if with_queue:
            if settings.redis_url:
                # No ping here: the API must start (and answer 503 on /readyz) while Redis
                # is down; ingest keeps committing and the sweeper catches up.
                redis = ArqRedis.from_url(
                    settings.redis_url, socket_connect_timeout=2, socket_timeout=5
                )
                runtime.queue = ArqQueue(redis, settings.queue_name)
            elif tasks is not None:
                runtime.queue = InProcessQueue(tasks, ctx={"runtime": runtime})
        yield runtime
    finally:
        if runtime.queue is not None:
            await runtime.queue.close()
        await http.aclose()
        await engine.dispose()
