"""Toolset rows and their custom tools; every query filters by tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import Connection, CustomTool, Toolset

_ID = cast(InstrumentedAttribute[str], Toolset.id)


async def get(session: AsyncSession, tenant_id: str, toolset_id: str) -> Toolset | None:
    result = await session.execute(
        select(Toolset).where(col(Toolset.id) == toolset_id, col(Toolset.tenant_id) == tenant_id)
    )
    return result.scalar_one_or_none()


async def name_taken(session: AsyncSession, tenant_id: str, name: str) -> bool:
    result = await session.execute(
        sa.select(col(Toolset.id)).where(
            col(Toolset.tenant_id) == tenant_id, col(Toolset.name) == name
        )
    )
    return result.first() is not None


async def list_page(session: AsyncSession, tenant_id: str, params: PageParams) -> list[Toolset]:
    query = select(Toolset).where(col(Toolset.tenant_id) == tenant_id)
    result = await session.execute(apply_page(query, _ID, params))
    return list(result.scalars())


async def tool_names(
    session: AsyncSession, tenant_id: str, toolset_ids: Sequence[str]
) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {toolset_id: [] for toolset_id in toolset_ids}
    if not toolset_ids:
        return names
    result = await session.execute(
        sa.select(col(CustomTool.toolset_id), col(CustomTool.name))
        .where(col(CustomTool.tenant_id) == tenant_id, col(CustomTool.toolset_id).in_(toolset_ids))
        .order_by(col(CustomTool.name))
    )
    for toolset_id, name in result.all():
        names[toolset_id].append(name)
    return names


async def connection_exists(session: AsyncSession, tenant_id: str, connection_id: str) -> bool:
    result = await session.execute(
        sa.select(col(Connection.id)).where(
            col(Connection.id) == connection_id, col(Connection.tenant_id) == tenant_id
        )
    )
    return result.first() is not None


async def delete(session: AsyncSession, tenant_id: str, toolset_id: str) -> None:
    await session.execute(
        sa.delete(CustomTool).where(
            col(CustomTool.tenant_id) == tenant_id, col(CustomTool.toolset_id) == toolset_id
        )
    )
    await session.execute(
        sa.delete(Toolset).where(col(Toolset.tenant_id) == tenant_id, col(Toolset.id) == toolset_id)
    )
