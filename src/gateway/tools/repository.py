"""Queries of the tools domain: custom tool definitions, reply targets, connections,
idempotency records. Every query filters by tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.models import (
    Connection,
    CustomTool,
    Event,
    IdempotencyRecord,
    Toolset,
    WebhookEndpoint,
)


async def get_custom_tool(
    session: AsyncSession, tenant_id: str, name: str
) -> tuple[CustomTool, Toolset] | None:
    result = await session.execute(
        select(CustomTool, Toolset)
        .join(Toolset, col(Toolset.id) == col(CustomTool.toolset_id))
        .where(col(CustomTool.tenant_id) == tenant_id, col(CustomTool.name) == name)
    )
    row = result.first()
    return (row[0], row[1]) if row is not None else None


async def list_custom_tools(session: AsyncSession, tenant_id: str) -> list[CustomTool]:
    result = await session.execute(
        select(CustomTool)
        .where(col(CustomTool.tenant_id) == tenant_id)
        .order_by(col(CustomTool.name))
    )
    return list(result.scalars())


async def get_connection_provider(
    session: AsyncSession, tenant_id: str, connection_id: str
) -> str | None:
    result = await session.execute(
        sa.select(col(Connection.provider)).where(
            col(Connection.id) == connection_id, col(Connection.tenant_id) == tenant_id
        )
    )
    provider: str | None = result.scalar_one_or_none()
    return provider


async def get_event(session: AsyncSession, tenant_id: str, event_id: str) -> Event | None:
    result = await session.execute(
        select(Event).where(col(Event.id) == event_id, col(Event.tenant_id) == tenant_id)
    )
    return result.scalar_one_or_none()


async def get_endpoint_connection(
    session: AsyncSession, tenant_id: str, endpoint_id: str
) -> str | None:
    result = await session.execute(
        sa.select(col(WebhookEndpoint.connection_id)).where(
            col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.tenant_id) == tenant_id
        )
    )
    connection_id: str | None = result.scalar_one_or_none()
    return connection_id


async def get_idempotency_record(
    session: AsyncSession, tenant_id: str, key: str
) -> IdempotencyRecord | None:
    result = await session.execute(
        select(IdempotencyRecord).where(
            col(IdempotencyRecord.tenant_id) == tenant_id, col(IdempotencyRecord.key) == key
        )
    )
    return result.scalar_one_or_none()


async def delete_idempotency_record(
    session: AsyncSession, record_id: str, *, only_in_progress: bool = False
) -> None:
    statement = sa.delete(IdempotencyRecord).where(col(IdempotencyRecord.id) == record_id)
    if only_in_progress:
        statement = statement.where(col(IdempotencyRecord.status) == "in_progress")
    await session.execute(statement)


async def complete_idempotency_record(
    session: AsyncSession, record_id: str, invocation_id: str, result: dict[str, Any]
) -> None:
    await session.execute(
        sa.update(IdempotencyRecord)
        .where(col(IdempotencyRecord.id) == record_id)
        .values(status="completed", invocation_id=invocation_id, result=result)
    )


async def purge_idempotency_records(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(
        sa.delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)
