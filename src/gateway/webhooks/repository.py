"""Queries of the webhooks domain: endpoint rows and the inbox insert of the ingest hot path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]  # no stubs; used for the raw inbox insert
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import Connection, Event, WebhookEndpoint

EVENTS = cast(sa.Table, Event.__table__)  # type: ignore[attr-defined]
_ID = cast(InstrumentedAttribute[str], WebhookEndpoint.id)
_DEDUP_COLUMNS = ("endpoint_id", "provider_event_id")


async def get_endpoint(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint | None:
    """Any tenant's endpoint: only for the public receiver, which is addressed by id alone."""
    return await session.get(WebhookEndpoint, endpoint_id)


async def get_tenant_endpoint(
    session: AsyncSession, tenant_id: str, endpoint_id: str
) -> WebhookEndpoint | None:
    result = await session.execute(
        select(WebhookEndpoint).where(
            col(WebhookEndpoint.tenant_id) == tenant_id, col(WebhookEndpoint.id) == endpoint_id
        )
    )
    return result.scalar_one_or_none()


async def list_tenant_endpoints(
    session: AsyncSession, tenant_id: str, params: PageParams
) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(col(WebhookEndpoint.tenant_id) == tenant_id)
    result = await session.execute(apply_page(query, _ID, params))
    return list(result.scalars())


async def get_tenant_connection(
    session: AsyncSession, tenant_id: str, connection_id: str
) -> Connection | None:
    result = await session.execute(
        select(Connection).where(
            col(Connection.tenant_id) == tenant_id, col(Connection.id) == connection_id
        )
    )
    return result.scalar_one_or_none()


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    await session.delete(endpoint)
    await session.flush()


# PostgreSQL: the batch travels as one array per column and is unnested server-side, so the
# statement text (and asyncpg's prepared statement) is the same for every batch size and the
# per-row cost is array encoding in C. It goes to asyncpg directly: SQLAlchemy's per-execute
# overhead is several times asyncpg's own for this statement, and it is paid once per batch on
# the receive path.
_PG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "varchar"),
    ("tenant_id", "varchar"),
    ("endpoint_id", "varchar"),
    ("connection_id", "varchar"),
    ("provider", "varchar"),
    ("provider_event_id", "varchar"),
    ("raw_type", "varchar"),
    ("status", "varchar"),
    ("attempts", "integer"),
    ("received_at", "timestamptz"),
    ("lease_until", "timestamptz"),
    ("payload_enc", "text"),
)
_PG_INSERT = (
    f"INSERT INTO events ({', '.join(name for name, _ in _PG_COLUMNS)}) "
    "SELECT * FROM unnest("
    + ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_PG_COLUMNS, start=1))
    + ") ON CONFLICT (endpoint_id, provider_event_id) DO NOTHING RETURNING id"
)

#: Errors after which the connection is worth replacing and the statement retrying once.
STALE_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
)


async def insert_inbox_rows(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """``INSERT … ON CONFLICT (endpoint_id, provider_event_id) DO NOTHING RETURNING id`` for
    many rows in one statement; returns the ids that were new (the rest were duplicates).

    Rows are plain dicts with the inbox columns (no ORM objects on the hot path). ``conn`` is
    in autocommit mode: the single statement is the transaction, committed when it returns.
    """
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if driver is None:  # the connection was invalidated
            raise ConnectionError("inbox connection is closed")
        columns = [[row[name] for row in rows] for name, _ in _PG_COLUMNS]
        records = await driver.fetch(_PG_INSERT, *columns)
        return {record[0] for record in records}
    statement = (
        sqlite.insert(EVENTS)
        .on_conflict_do_nothing(index_elements=list(_DEDUP_COLUMNS))
        .returning(EVENTS.c.id)
    )
    result = await conn.execute(statement, list(rows))
    return set(result.scalars().all())
