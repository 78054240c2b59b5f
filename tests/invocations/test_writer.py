"""The invocation log's group-commit writer: rows written in batches after the response,
visible to a reader of this process at once, kept through a database outage, all written at
shutdown; idempotent invocations still written before their response."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col, select

from gateway.invocations import repository
from gateway.invocations.service import row_values
from gateway.invocations.sqlite_sink import SqliteLogSink
from gateway.invocations.writer import STATE_KEY, InvocationLogWriter
from gateway.kit.db import create_engine
from gateway.kit.ids import new_id
from gateway.kit.migrations import upgrade
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.models import ToolInvocation
from gateway.models.base import utcnow
from tests.conftest import TenantCtx
from tests.tools.mock_api import Reply, mock_api
from tests.tools.support import create_toolset, invoke

pytestmark = pytest.mark.usefixtures("tool_env")


class _Conn:
    dialect = SimpleNamespace(name="fake")

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    async def execute(self, _statement: Any, rows: list[dict[str, Any]]) -> None:
        if self.engine.failures > 0:
            self.engine.failures -= 1
            raise ConnectionError("database unreachable")
        self.engine.batches.append([row["id"] for row in rows])


class FakeEngine:
    """Stands in for the AsyncEngine: records each committed batch, fails on demand."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[list[str]] = []

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[_Conn]:
        yield _Conn(self)


def _row(n: int) -> dict[str, Any]:
    return {"id": f"inv_{n:03d}"}


async def test_rows_added_together_are_written_in_one_batch_in_order() -> None:
    engine = FakeEngine()
    writer = InvocationLogWriter(engine, window_seconds=60)  # type: ignore[arg-type]
    for n in range(3):
        writer.add(_row(n))
    assert engine.batches == []  # nothing on the caller's path
    await writer.flush()
    assert engine.batches == [["inv_000", "inv_001", "inv_002"]]
    assert writer.pending == 0


async def test_the_window_writes_without_a_reader() -> None:
    engine = FakeEngine()
    writer = InvocationLogWriter(engine, window_seconds=0.001)  # type: ignore[arg-type]
    writer.add(_row(1))
    async with asyncio.timeout(5):
        while not engine.batches:
            await asyncio.sleep(0.001)
    assert engine.batches == [["inv_001"]]


async def test_a_full_batch_is_written_without_waiting_for_the_window() -> None:
    engine = FakeEngine()
    writer = InvocationLogWriter(engine, window_seconds=60, max_batch=2)  # type: ignore[arg-type]
    writer.add(_row(1))
    writer.add(_row(2))
    async with asyncio.timeout(5):
        while not engine.batches:
            await asyncio.sleep(0)
    assert engine.batches == [["inv_001", "inv_002"]]


async def test_rows_survive_a_failed_batch_and_are_written_later() -> None:
    engine = FakeEngine(failures=1)
    writer = InvocationLogWriter(engine, window_seconds=60)  # type: ignore[arg-type]
    writer.add(_row(1))
    writer.add(_row(2))
    await writer.flush()  # gives up after one failed attempt instead of waiting out an outage
    assert (engine.batches, writer.pending) == ([], 2)
    writer.add(_row(3))
    await writer.flush()
    assert engine.batches == [["inv_001", "inv_002", "inv_003"]]


async def test_an_outage_keeps_the_newest_rows_up_to_the_cap() -> None:
    engine = FakeEngine(failures=1)
    writer = InvocationLogWriter(  # type: ignore[arg-type]
        engine, window_seconds=60, max_pending=3, retry_seconds=60
    )
    writer.add(_row(1))
    await writer.flush()  # fails: the database is down
    for n in range(2, 6):
        writer.add(_row(n))
    await writer.close()
    assert engine.batches == [["inv_003", "inv_004", "inv_005"]]


async def test_close_writes_everything_then_refuses_rows() -> None:
    engine = FakeEngine()
    writer = InvocationLogWriter(engine, window_seconds=60, max_batch=2)  # type: ignore[arg-type]
    for n in range(5):
        writer.add(_row(n))
    await writer.close()
    assert [i for batch in engine.batches for i in batch] == [f"inv_{n:03d}" for n in range(5)]
    with pytest.raises(RuntimeError):
        writer.add(_row(9))


async def _stored(runtime: Runtime, invocation_id: str) -> ToolInvocation | None:
    async with runtime.sessionmaker() as session:
        result = await session.execute(
            select(ToolInvocation).where(col(ToolInvocation.id) == invocation_id)
        )
        return result.scalar_one_or_none()


async def test_an_invocation_is_readable_right_after_its_answer(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    writer = runtime.extras[STATE_KEY]
    assert isinstance(writer, InvocationLogWriter)
    async with mock_api(lambda request: Reply(body={"ok": True})) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        response = await invoke(client, tenant.headers, f"{toolset['name']}.getHealth", {})
    invocation_id = response.json()["invocation_id"]
    read = await client.get(f"/v1/invocations/{invocation_id}", headers=tenant.headers)
    assert read.status_code == 200, read.text
    assert (read.json()["outcome"], read.json()["status_code"]) == ("ok", 200)
    assert await _stored(runtime, invocation_id) is not None


async def test_an_idempotent_invocation_is_stored_before_its_answer(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    async with mock_api(lambda request: Reply(body={"ok": True})) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        response = await invoke(
            client,
            tenant.headers,
            f"{toolset['name']}.getHealth",
            {},
            idempotency_key="writer-test-key",
        )
    # No reader flushed the writer: the row was committed with the request.
    stored = await _stored(runtime, response.json()["invocation_id"])
    assert stored is not None
    assert stored.idempotency_key == "writer-test-key"


async def test_a_batch_retried_after_an_unknown_commit_outcome_does_not_duplicate_rows(
    runtime: Runtime, tenant: TenantCtx
) -> None:
    row = row_values(
        id=new_id("inv"),
        tenant_id=tenant.tenant.id,
        tool="t.op",
        outcome="ok",
        attempts=1,
        duration_ms=1.0,
        created_at=utcnow(),
    )
    for _ in range(2):  # the second time: as if the first commit's answer had been lost
        async with runtime.engine.begin() as conn:
            await repository.insert_many(conn, [row])
    stored = await _stored(runtime, row["id"])
    assert stored is not None
    assert stored.tool == "t.op"


async def test_a_large_batch_is_stored_whole_and_reads_back_as_written(
    runtime: Runtime, tenant: TenantCtx
) -> None:
    """A large batch: every row stored once, every value as written, the batch retried whole
    adds nothing, and the stored text is what the ORM writes."""

    async def write(rows: list[dict[str, Any]]) -> None:
        async with runtime.engine.begin() as conn:
            await repository.insert_many(conn, rows)

    await _write_and_check(runtime.engine, tenant.tenant.id, write)


@pytest.mark.parametrize("json_each", [True, False])
async def test_both_sqlite_batch_statements_store_the_same_rows(
    settings: Settings, tmp_path: Path, json_each: bool
) -> None:
    """SQLite gets one ``json_each`` document per batch, or ``VALUES`` chunks of 50 where it is
    older than 3.38: both checked on a SQLite database of their own, on either test tier."""
    local = _private_sqlite(settings, tmp_path)
    engine = create_engine(local)
    try:
        await upgrade(engine, local)

        async def write(rows: list[dict[str, Any]]) -> None:
            async with engine.begin() as conn:
                await repository._insert_many_sqlite(conn, rows, json_each=json_each)

        await _write_and_check(engine, "ten_local", write)
    finally:
        await engine.dispose()


def _private_sqlite(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/log.db", "data_dir": tmp_path}
    )


@asynccontextmanager
async def _private_log_db(
    settings: Settings, tmp_path: Path, *, migrated: bool = True
) -> AsyncIterator[tuple[AsyncEngine, SqliteLogSink]]:
    """A SQLite database of the test's own (``tmp_path/log.db``), and its log sink."""
    local = _private_sqlite(settings, tmp_path)
    engine = create_engine(local)
    sink = SqliteLogSink.for_engine(engine)
    assert sink is not None
    try:
        if migrated:
            await upgrade(engine, local)
        yield engine, sink
    finally:
        await sink.close()
        await engine.dispose()


async def test_the_sqlite_sink_stores_rows_as_the_engine_does(
    settings: Settings, tmp_path: Path
) -> None:
    """The writer's own SQLite connection stores what the engine would: every value, the same
    datetime text as the ORM, nothing twice when a batch is written again."""
    async with _private_log_db(settings, tmp_path) as (engine, sink):
        await _write_and_check(engine, "ten_local", sink.insert)


async def test_only_a_sqlite_file_gets_a_sink(
    settings: Settings, tmp_path: Path, runtime: Runtime
) -> None:
    memory = create_engine(settings.model_copy(update={"database_url": "sqlite+aiosqlite://"}))
    try:
        assert SqliteLogSink.for_engine(memory) is None  # private to each connection
    finally:
        await memory.dispose()
    expected = runtime.engine.dialect.name == "sqlite"  # the test tier's database
    assert (SqliteLogSink.for_engine(runtime.engine) is not None) is expected


async def test_a_sink_batch_waits_for_another_writer_then_commits(
    settings: Settings, tmp_path: Path
) -> None:
    async with _private_log_db(settings, tmp_path) as (engine, sink):
        other = sqlite3.connect(tmp_path / "log.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
        timer = threading.Timer(0.3, other.execute, ("COMMIT",))
        timer.start()
        row = _log_row("ten_local")
        await sink.insert([row])  # waits for the lock (busy_timeout) instead of failing
        timer.join()
        other.close()
        assert await _count(engine, row["id"]) == 1


async def test_a_failed_sink_batch_is_kept_and_written_on_a_fresh_connection(
    settings: Settings, tmp_path: Path
) -> None:
    async with _private_log_db(settings, tmp_path, migrated=False) as (engine, sink):
        writer = InvocationLogWriter(engine, window_seconds=60, retry_seconds=60, sink=sink)
        row = _log_row("ten_local")
        writer.add(row)
        await writer.flush()  # no table yet: the batch fails and is kept
        assert writer.pending == 1
        await upgrade(engine, _private_sqlite(settings, tmp_path))
        await writer.flush()
        assert writer.pending == 0
        assert await _count(engine, row["id"]) == 1
        await writer.close()
        with pytest.raises(RuntimeError):  # closed with the writer: its thread is gone
            await sink.insert([_log_row("ten_local")])
    # (and closed again on the way out: harmless)


async def test_a_batch_held_by_another_writer_is_not_queued_again_on_every_retry(
    settings: Settings, tmp_path: Path
) -> None:
    """Another process holds SQLite's write lock for longer than the writer waits: the writer
    gives up on each attempt and retries. An attempt given up while queued behind the one still
    waiting for the lock is cancelled, not run late, once per attempt, after the lock is
    released."""
    async with _private_log_db(settings, tmp_path) as (engine, sink):
        runs = 0
        run = sink._run

        def counted(statements: list[tuple[str, tuple[Any, ...]]]) -> None:
            nonlocal runs
            runs += 1
            run(statements)

        sink._run = counted  # type: ignore[method-assign]
        writer = InvocationLogWriter(
            engine, window_seconds=60, retry_seconds=0.01, timeout_seconds=0.1, sink=sink
        )
        other = sqlite3.connect(tmp_path / "log.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        row = _log_row("ten_local")
        writer.add(row)
        for _ in range(8):  # eight attempts, each given up after 0.1 s
            await writer.flush()
        assert writer.pending == 1
        other.execute("COMMIT")
        other.close()
        async with asyncio.timeout(10):
            while writer.pending:
                await writer.flush()
        assert await _count(engine, row["id"]) == 1
        assert runs <= 2  # the batch that waited for the lock, then at most one retry
        await writer.close()


def _log_row(tenant_id: str) -> dict[str, Any]:
    return row_values(
        id=new_id("inv"),
        tenant_id=tenant_id,
        tool="t.op",
        outcome="ok",
        attempts=1,
        duration_ms=1.0,
        created_at=utcnow(),
    )


async def _count(engine: AsyncEngine, invocation_id: str) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.text("SELECT count(*) FROM tool_invocations WHERE id = :id"), {"id": invocation_id}
        )
        return int(result.scalar_one())


async def _write_and_check(
    engine: AsyncEngine,
    tenant_id: str,
    write: Callable[[list[dict[str, Any]]], Awaitable[None]],
) -> None:
    rows = [
        row_values(
            id=new_id("inv"),
            tenant_id=tenant_id,
            tool="t.op",
            toolset_id=None,
            connection_id=None,
            outcome="ok" if n % 3 else "error",
            status_code=200 if n % 3 else 503,
            error_code=None if n % 3 else "provider_unavailable",
            error_message=None if n % 3 else "upstream said 'no'; \"quoted\" ✓ \\ [1,2] {}",
            platform_code=None,
            attempts=1 + n % 3,
            duration_ms=n / 7,
            request_method="POST",
            request_target=f"https://api.example/items/{n}",
            request_body=f'{{"n": {n}}}',
            response_body=None,
            idempotency_key=None,
            created_at=utcnow(),
        )
        for n in range(123)
    ]
    for _ in range(2):
        await write(rows)
    async with AsyncSession(engine) as session:
        stored = {
            r.id: r
            for r in (
                await session.execute(
                    select(ToolInvocation).where(col(ToolInvocation.tenant_id) == tenant_id)
                )
            ).scalars()
        }
    assert len(stored) == len(rows)
    # stored as SQLAlchemy stores it: the same datetime text as a row written by the ORM
    orm_row = {**rows[0], "id": new_id("inv")}
    async with engine.begin() as conn:
        await repository.insert(conn, orm_row)  # type: ignore[arg-type]
        raw = dict(
            (
                await conn.execute(
                    sa.text("SELECT id, created_at FROM tool_invocations WHERE id IN (:a, :b)"),
                    {"a": rows[0]["id"], "b": orm_row["id"]},
                )
            ).all()
        )
    assert raw[rows[0]["id"]] == raw[orm_row["id"]]
    for row in rows:
        got = stored[row["id"]]
        for name, value in row.items():
            read = getattr(got, name)
            if name == "created_at":
                assert read.replace(tzinfo=None) == value.replace(tzinfo=None)
            else:
                assert read == value, name


async def test_a_lone_surrogate_from_an_upstream_error_is_stored_replaced(
    runtime: Runtime, tenant: TenantCtx
) -> None:
    """An upstream's ``"\\ud800"`` escape parsed into an error message: the batch is written and
    the log still reads (no database stores a lone surrogate)."""
    row = row_values(
        id=new_id("inv"),
        tenant_id=tenant.tenant.id,
        tool="t.op",
        outcome="error",
        error_code="provider_rejected",
        error_message="upstream said \ud800 ✓",
        platform_code="bad\udfff",
        attempts=1,
        duration_ms=1.0,
        created_at=utcnow(),
    )
    async with runtime.engine.begin() as conn:
        await repository.insert_many(conn, [row])
    stored = await _stored(runtime, row["id"])
    assert stored is not None
    assert (stored.error_message, stored.platform_code) == ("upstream said ? ✓", "bad?")
