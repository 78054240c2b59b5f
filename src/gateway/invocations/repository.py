"""Invocation log rows: batched or single INSERTs, tenant-scoped reads."""

from __future__ import annotations

import functools
import json
import sqlite3
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import ToolInvocation

_TABLE = ToolInvocation.__table__  # type: ignore[attr-defined]
_ID = cast(InstrumentedAttribute[str], ToolInvocation.id)


# Built once: executing one statement object with a parameter dict reuses its compiled form.
_INSERT = sa.insert(_TABLE)


async def insert(session: AsyncSession, values: dict[str, Any]) -> None:
    """One row in the caller's transaction (idempotent invocations, and outside the API)."""
    await session.execute(_INSERT, values)


# A batch retried after a commit whose outcome was unknown (a timeout during COMMIT) must not
# fail forever on its own rows: ids are unique, so an existing id is the same row.
_INSERT_NEW = {
    "postgresql": postgresql.insert(_TABLE).on_conflict_do_nothing(index_elements=["id"]),
    "sqlite": sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=["id"]),
}


async def insert_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """A batch from the log writer, rows already stored skipped."""
    if conn.dialect.name == "sqlite" and rows:
        await _insert_many_sqlite(conn, rows)
        return
    await conn.execute(_INSERT_NEW.get(conn.dialect.name, _INSERT), rows)


# SQLite: the batch goes in as one JSON text that SQLite unpacks itself (``json_each``), instead
# of ``executemany``. The driver runs SQLite in its own thread, and ``executemany`` takes the
# GIL back from the event loop after every row it steps (~0.1 ms of loop CPU per logged row
# under load); binding 18 parameters per row holds it too. One parameter per batch leaves the
# per-row work to SQLite's C code, with the GIL released. SQLite before 3.38 (no ``->>``) gets
# multi-row ``VALUES`` statements: 18 columns x 50 rows stays under its 999 parameters.
SQLITE_JSON_EACH: Final = sqlite3.sqlite_version_info >= (3, 38)
_SQLITE_CHUNK: Final = 50


async def _insert_many_sqlite(
    conn: AsyncConnection, rows: list[dict[str, Any]], *, json_each: bool = SQLITE_JSON_EACH
) -> None:
    for statement, parameters in sqlite_batch(conn.dialect, rows, json_each=json_each):
        await conn.exec_driver_sql(statement, parameters)


def sqlite_batch(
    dialect: sa.Dialect, rows: list[dict[str, Any]], *, json_each: bool = SQLITE_JSON_EACH
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements (and their parameters) that store ``rows`` on SQLite, skipping rows
    already stored: one ``json_each`` statement, or ``VALUES`` chunks before 3.38."""
    names = tuple(rows[0])  # every row of a batch carries the same columns (``row_values``)
    # The dialect's own processors, as SQLAlchemy applies them (``UTCDateTime`` → SQLite's
    # datetime text), so these rows read and compare like every other row.
    processors = [_TABLE.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    pairs = list(zip(names, processors, strict=True))
    values = [[process(row[n]) if process else row[n] for n, process in pairs] for row in rows]
    if json_each:
        return [(_sqlite_insert_json(names), (json.dumps(values, separators=(",", ":")),))]
    return [
        (
            _sqlite_insert_values(names, len(chunk)),
            tuple(value for row in chunk for value in row),
        )
        for chunk in (
            values[start : start + _SQLITE_CHUNK] for start in range(0, len(values), _SQLITE_CHUNK)
        )
    ]


@functools.lru_cache(maxsize=64)
def _sqlite_insert_json(names: tuple[str, ...]) -> str:
    # ``->>`` gives SQL values (INTEGER, REAL, TEXT, NULL); ``WHERE true`` lets the upsert clause
    # follow a SELECT, as SQLite's grammar asks.
    columns = ", ".join(f"value ->> {i}" for i in range(len(names)))
    return (
        f"INSERT INTO {_TABLE.name} ({', '.join(names)}) SELECT {columns} FROM json_each(?) "
        "WHERE true ON CONFLICT (id) DO NOTHING"
    )


@functools.lru_cache(maxsize=64)
def _sqlite_insert_values(names: tuple[str, ...], count: int) -> str:
    row = "(" + ", ".join("?" * len(names)) + ")"
    return (
        f"INSERT INTO {_TABLE.name} ({', '.join(names)}) VALUES {', '.join([row] * count)} "
        "ON CONFLICT (id) DO NOTHING"
    )


async def list_page(
    session: AsyncSession,
    tenant_id: str,
    params: PageParams,
    *,
    tool: str | None = None,
    outcome: str | None = None,
) -> list[ToolInvocation]:
    query = select(ToolInvocation).where(col(ToolInvocation.tenant_id) == tenant_id)
    if tool is not None:
        query = query.where(col(ToolInvocation.tool) == tool)
    if outcome is not None:
        query = query.where(col(ToolInvocation.outcome) == outcome)
    result = await session.execute(apply_page(query, _ID, params))
    return list(result.scalars())


async def get(session: AsyncSession, tenant_id: str, invocation_id: str) -> ToolInvocation | None:
    result = await session.execute(
        select(ToolInvocation).where(
            col(ToolInvocation.id) == invocation_id, col(ToolInvocation.tenant_id) == tenant_id
        )
    )
    return result.scalar_one_or_none()
