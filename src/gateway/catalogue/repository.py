from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.models import CustomProvider


async def get_custom(
    session: AsyncSession, tenant_id: str, provider_id: str
) -> CustomProvider | None:
    result = await session.execute(
        select(CustomProvider).where(
            col(CustomProvider.tenant_id) == tenant_id,
            col(CustomProvider.provider_id) == provider_id,
        )
    )
    return result.scalar_one_or_none()


async def list_custom(session: AsyncSession, tenant_id: str) -> list[CustomProvider]:
    result = await session.execute(
        select(CustomProvider)
        .where(col(CustomProvider.tenant_id) == tenant_id)
        .order_by(col(CustomProvider.provider_id))
    )
    return list(result.scalars())
