"""Invocation log rows: one INSERT per invocation, tenant-scoped reads."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import ToolInvocation

_TABLE = ToolInvocation.__table__  # type: ignore[attr-defined]
_ID = cast(InstrumentedAttribute[str], ToolInvocation.id)


# Built once: executing one statement object with a parameter dict reuses its compiled form.
_INSERT = sa.insert(_TABLE)


async def insert(session: AsyncSession, values: dict[str, Any]) -> None:
    """A single Core INSERT: the invoke hot path's only write."""
    await session.execute(_INSERT, values)


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
