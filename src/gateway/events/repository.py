"""Queries on inbox/unified event rows: tenant-scoped reads, the claim/lease protocol, sweeps."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.events.schemas import EventFilters
from gateway.events.states import EventStatus
from gateway.kit.pagination import PageParams, apply_page
from gateway.models import Connection, Event, WebhookEndpoint

_ID = cast(InstrumentedAttribute[str], Event.id)
_UNFINISHED = (EventStatus.PENDING.value, EventStatus.PROCESSING.value)


async def list_tenant_events(
    session: AsyncSession, tenant_id: str, filters: EventFilters, params: PageParams
) -> list[Event]:
    query = select(Event).where(col(Event.tenant_id) == tenant_id)
    if filters.provider is not None:
        query = query.where(col(Event.provider) == filters.provider)
    if filters.endpoint_id is not None:
        query = query.where(col(Event.endpoint_id) == filters.endpoint_id)
    if filters.type is not None:
        query = query.where(col(Event.type) == filters.type)
    if filters.status is not None:
        query = query.where(col(Event.status) == filters.status.value)
    if filters.since is not None:
        query = query.where(col(Event.received_at) >= filters.since)
    if filters.until is not None:
        query = query.where(col(Event.received_at) < filters.until)
    result = await session.execute(apply_page(query, _ID, params))
    return list(result.scalars())


async def get_tenant_event(session: AsyncSession, tenant_id: str, event_id: str) -> Event | None:
    result = await session.execute(
        select(Event).where(col(Event.tenant_id) == tenant_id, col(Event.id) == event_id)
    )
    return result.scalar_one_or_none()


def _claim_statement(now: datetime, lease_until: datetime, *where: Any) -> sa.Update:
    """Rows matching ``where`` that are pending, or processing with an expired lease, become
    ``processing`` until ``lease_until`` with ``attempts`` + 1."""
    return (
        sa.update(Event)
        .where(
            *where,
            sa.or_(
                col(Event.status) == EventStatus.PENDING.value,
                sa.and_(
                    col(Event.status) == EventStatus.PROCESSING.value,
                    sa.or_(col(Event.lease_until).is_(None), col(Event.lease_until) < now),
                ),
            ),
        )
        .values(
            status=EventStatus.PROCESSING.value,
            lease_until=lease_until,
            attempts=col(Event.attempts) + 1,
        )
        .execution_options(synchronize_session=False)
    )


async def claim(
    session: AsyncSession, event_id: str, now: datetime, lease_until: datetime
) -> tuple[int, datetime] | None:
    """Take a row that is pending, or processing with an expired lease: it becomes
    ``processing`` until ``lease_until``, ``attempts`` + 1. Returns (attempts, received_at),
    or None when the row is processed, dead, or leased by another job."""
    statement = _claim_statement(now, lease_until, col(Event.id) == event_id).returning(
        col(Event.attempts), col(Event.received_at)
    )
    row = (await session.execute(statement)).first()
    return None if row is None else (int(row[0]), row[1])


async def claim_many(
    session: AsyncSession, event_ids: list[str], now: datetime, lease_until: datetime
) -> dict[str, tuple[int, datetime]]:
    """:func:`claim` for many rows in one statement: {event id: (attempts, received_at)} of
    the rows taken (the others are processed, dead or leased by another job)."""
    statement = _claim_statement(now, lease_until, col(Event.id).in_(event_ids)).returning(
        col(Event.id), col(Event.attempts), col(Event.received_at)
    )
    rows = (await session.execute(statement)).all()
    return {row[0]: (int(row[1]), row[2]) for row in rows}


async def lock_events(session: AsyncSession, event_ids: list[str]) -> list[Event]:
    """The rows, locked until the transaction ends, in id order (no deadlock between two
    batches that share rows)."""
    result = await session.execute(
        select(Event).where(col(Event.id).in_(event_ids)).order_by(_ID).with_for_update()
    )
    return list(result.scalars())


async def lock_event(session: AsyncSession, event_id: str) -> Event | None:
    """The row, locked until the transaction ends (a no-op lock on SQLite)."""
    result = await session.execute(select(Event).where(col(Event.id) == event_id).with_for_update())
    return result.scalar_one_or_none()


async def release(
    session: AsyncSession, event_id: str, attempts: int, values: dict[str, Any]
) -> bool:
    """Update a row this job still holds (processing, same attempt); False if it lost it."""
    statement = (
        sa.update(Event)
        .where(
            col(Event.id) == event_id,
            col(Event.status) == EventStatus.PROCESSING.value,
            col(Event.attempts) == attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def stale_event_ids(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Unfinished rows whose lease (or initial grace) has run out, oldest first."""
    result = await session.execute(
        select(col(Event.id))
        .where(
            col(Event.status).in_(_UNFINISHED),
            sa.or_(col(Event.lease_until).is_(None), col(Event.lease_until) < now),
        )
        .order_by(col(Event.id))
        .limit(limit)
    )
    return list(result.scalars())


async def count_unfinished(session: AsyncSession) -> int:
    result = await session.execute(
        select(sa.func.count()).select_from(Event).where(col(Event.status).in_(_UNFINISHED))
    )
    return int(result.scalar_one())


async def connection_account(
    session: AsyncSession, tenant_id: str, connection_id: str
) -> dict[str, Any]:
    result = await session.execute(
        select(col(Connection.account)).where(
            col(Connection.tenant_id) == tenant_id, col(Connection.id) == connection_id
        )
    )
    account = result.scalar_one_or_none()
    return account if isinstance(account, dict) else {}


async def endpoint_public_config(
    session: AsyncSession, tenant_id: str, endpoint_id: str
) -> dict[str, Any]:
    result = await session.execute(
        select(col(WebhookEndpoint.config_public)).where(
            col(WebhookEndpoint.tenant_id) == tenant_id, col(WebhookEndpoint.id) == endpoint_id
        )
    )
    config = result.scalar_one_or_none()
    return config if isinstance(config, dict) else {}
