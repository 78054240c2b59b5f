from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import Connection
from gateway.models.base import utcnow

USABLE_STATUSES = ("active", "refreshing")


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def _bound_lock_waits(session: AsyncSession) -> None:
    """On PostgreSQL, give up waiting for a row lock after 40 s (a token call times out at 30 s)
    instead of hanging behind a stuck holder; the wait fails as a database error (503)."""
    if _is_postgres(session):
        await session.execute(sa.text("SET LOCAL lock_timeout = '40s'"))


def _by_id(tenant_id: str, connection_id: str) -> list[sa.ColumnElement[bool]]:
    return [col(Connection.id) == connection_id, col(Connection.tenant_id) == tenant_id]


async def get(
    session: AsyncSession, tenant_id: str, connection_id: str, *, fresh: bool = False
) -> Connection | None:
    """The tenant's connection; ``fresh`` overwrites any copy already in the session."""
    query = select(Connection).where(*_by_id(tenant_id, connection_id))
    if fresh:
        query = query.execution_options(populate_existing=True)
    result = await session.execute(query)
    return result.scalar_one_or_none()


async def lock(session: AsyncSession, tenant_id: str, connection_id: str) -> Connection | None:
    """Load the row holding its write lock until this transaction ends (refresh single-flight).

    PostgreSQL: ``SELECT … FOR UPDATE`` (with a lock timeout so a stuck holder cannot hang us).
    SQLite has no row locks: a no-op ``UPDATE`` first takes the database's single write lock,
    which serialises refreshes across processes just the same; the row is read after it.
    """
    await _bound_lock_waits(session)
    if _is_postgres(session):
        query = (
            select(Connection)
            .where(*_by_id(tenant_id, connection_id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await session.execute(query)).scalar_one_or_none()
    await session.execute(
        sa.update(Connection)
        .where(*_by_id(tenant_id, connection_id))
        .values(version=Connection.version)
        .execution_options(synchronize_session=False)
    )
    return await get(session, tenant_id, connection_id, fresh=True)


async def mark_refreshing(session: AsyncSession, tenant_id: str, connection_id: str) -> None:
    """Make an upcoming refresh visible (``active`` → ``refreshing``)."""
    await _bound_lock_waits(session)
    await session.execute(
        sa.update(Connection)
        .where(*_by_id(tenant_id, connection_id), col(Connection.status) == "active")
        .values(status="refreshing", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def list_page(
    session: AsyncSession,
    tenant_id: str,
    params: PageParams,
    *,
    status: str | None = None,
    provider: str | None = None,
) -> list[Connection]:
    query = select(Connection).where(col(Connection.tenant_id) == tenant_id)
    if status is not None:
        query = query.where(col(Connection.status) == status)
    if provider is not None:
        query = query.where(col(Connection.provider) == provider)
    id_column = cast(InstrumentedAttribute[str], Connection.id)
    result = await session.execute(apply_page(query, id_column, params))
    return list(result.scalars())


async def expiring(
    session: AsyncSession, *, not_before: datetime, before: datetime, limit: int
) -> list[tuple[str, str, datetime]]:
    """``(id, tenant_id, expires_at)`` of renewable connections (every tenant) expiring in
    ``[not_before, before)``, soonest first: the proactive refresh job's work list."""
    renewable = sa.or_(
        col(Connection.refresh_token_enc).is_not(None), col(Connection.auth_kind) == "credentials"
    )
    query = (
        sa.select(col(Connection.id), col(Connection.tenant_id), col(Connection.expires_at))
        .where(
            col(Connection.status).in_(USABLE_STATUSES),
            col(Connection.expires_at) >= not_before,
            col(Connection.expires_at) < before,
            renewable,
        )
        .order_by(col(Connection.expires_at))
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [(row[0], row[1], cast(datetime, row[2])) for row in rows]
