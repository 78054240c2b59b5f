"""Test harness: SQLite + in-process dispatch by default; PostgreSQL + Redis + arq when
``GATEWAY_TEST_DATABASE_URL`` / ``GATEWAY_TEST_REDIS_URL`` are set.

With those variables set, an unreachable service FAILS the run (never skips). Each run gets a
fresh PostgreSQL database (created beside the given one, migrated from empty, dropped at the end)
and its own arq queue name, so concurrent runs cannot see each other's rows or jobs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from gateway import jobs
from gateway.app import create_app
from gateway.kit.crypto import generate_key_line
from gateway.kit.db import create_engine
from gateway.kit.migrations import upgrade
from gateway.kit.queue import InProcessQueue
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.models import Tenant
from gateway.tenants import service as tenant_service

PG_URL = os.environ.get("GATEWAY_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL")


def pytest_report_header() -> str:
    database = "postgresql" if PG_URL else "sqlite"
    queue = "arq/redis" if REDIS_URL else "in-process"
    return f"gateway tier: database={database}, queue={queue}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``postgres``/``redis`` belong to the real-service tier: on the default
    SQLite tier they are deselected (not skipped); with the variables set they run, and fail if
    the service is unreachable."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        needs_pg = item.get_closest_marker("postgres") is not None and not PG_URL
        needs_redis = item.get_closest_marker("redis") is not None and not REDIS_URL
        (dropped if needs_pg or needs_redis else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


async def _create_pg_database(base_url: str) -> str:
    url = make_url(base_url)
    name = f"gwtest_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
        timeout=10,
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(base_url: str, test_url: str) -> None:
    url = make_url(base_url)
    name = make_url(test_url).database
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
        timeout=10,
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-data")


@pytest.fixture(scope="session")
async def database_url(data_dir: Path) -> AsyncIterator[str]:
    if PG_URL:
        url = await _create_pg_database(PG_URL)
        yield url
        await _drop_pg_database(PG_URL, url)
    else:
        yield f"sqlite+aiosqlite:///{data_dir / 'test.db'}"


@pytest.fixture(scope="session")
def encryption_keys() -> str:
    return generate_key_line("test1")


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str, encryption_keys: str) -> Settings:
    return Settings(
        env="development",
        data_dir=data_dir,
        database_url=database_url,
        redis_url=REDIS_URL,
        queue_name=f"gwtest:{secrets.token_hex(4)}",
        encryption_keys=SecretStr(encryption_keys),
        public_base_url="http://testserver",
        log_json=True,
        outbound_allowlist="127.0.0.0/8,::1",
    )


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await upgrade(engine, settings)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def app(settings: Settings, migrated: None) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        if REDIS_URL:
            runtime: Runtime = application.state.runtime
            assert runtime.queue is not None
            assert await runtime.queue.ping(), f"Redis at {REDIS_URL} is unreachable"
        yield application


@pytest.fixture(scope="session")
def runtime(app: FastAPI) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class TenantCtx:
    tenant: Tenant
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_tenant(runtime: Runtime, name: str | None = None) -> TenantCtx:
    async with runtime.sessionmaker() as session:
        tenant = await tenant_service.create_tenant(session, name or f"t-{secrets.token_hex(5)}")
        issued = await tenant_service.create_api_key(session, tenant)
        await session.commit()
        return TenantCtx(tenant, issued.plaintext)


@pytest.fixture
async def tenant(runtime: Runtime) -> TenantCtx:
    return await make_tenant(runtime)


@pytest.fixture
async def other_tenant(runtime: Runtime) -> TenantCtx:
    return await make_tenant(runtime)


class JobRunner:
    """Runs queued jobs to completion the way the tier does it: the in-process dispatcher's
    drain, or a real arq worker in burst mode against Redis."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def drain(self, timeout: float = 30.0) -> None:
        queue = self.runtime.queue
        if isinstance(queue, InProcessQueue):
            await queue.drain(timeout)
            return
        assert REDIS_URL, "no queue configured"
        worker = Worker(
            functions=[func(fn, name=name) for name, fn in jobs.TASKS.items()],
            redis_settings=RedisSettings.from_dsn(REDIS_URL),
            queue_name=self.runtime.settings.queue_name,
            burst=True,
            poll_delay=0.05,
            max_jobs=32,
            ctx={"runtime": self.runtime},
            handle_signals=False,
            job_timeout=60,
            max_tries=5,
            keep_result=1,
        )
        try:
            await asyncio.wait_for(worker.async_run(), timeout)
        finally:
            await _close_worker(worker)


async def _close_worker(worker: Worker) -> None:
    """``Worker.close()``, except that Redis is closed with ``aclose()``: arq 0.28 still calls
    redis-py's deprecated ``close()``, a DeprecationWarning (an error under filterwarnings)."""
    worker.handle_sig(signal.SIGUSR1)  # cancels what still runs after a timeout, as close() does
    pool: ArqRedis | None = worker.pool  # None when the worker never connected
    if pool is None:
        return
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    await pool.delete(worker.health_check_key)
    await pool.aclose(close_connection_pool=True)


@pytest.fixture
def job_runner(runtime: Runtime) -> JobRunner:
    return JobRunner(runtime)
