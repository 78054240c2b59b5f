from __future__ import annotations

from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import AuditRecord


async def list_page(
    session: AsyncSession,
    tenant_id: str,
    params: PageParams,
    *,
    connection_id: str | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    query = select(AuditRecord).where(col(AuditRecord.tenant_id) == tenant_id)
    if connection_id is not None:
        query = query.where(col(AuditRecord.connection_id) == connection_id)
    if action is not None:
        query = query.where(col(AuditRecord.action) == action)
    result = await session.execute(
        apply_page(query, cast(InstrumentedAttribute[str], AuditRecord.id), params)
    )
    return list(result.scalars())
