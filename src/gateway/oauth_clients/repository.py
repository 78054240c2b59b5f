from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.models import OAuthClient


async def get(session: AsyncSession, owner: str, provider: str) -> OAuthClient | None:
    result = await session.execute(
        select(OAuthClient).where(
            col(OAuthClient.owner) == owner, col(OAuthClient.provider) == provider
        )
    )
    return result.scalar_one_or_none()


async def list_for_owner(session: AsyncSession, owner: str) -> list[OAuthClient]:
    result = await session.execute(
        select(OAuthClient)
        .where(col(OAuthClient.owner) == owner)
        .order_by(col(OAuthClient.provider))
    )
    return list(result.scalars())


async def delete_one(session: AsyncSession, owner: str, provider: str) -> bool:
    result = await session.execute(
        delete(OAuthClient).where(
            col(OAuthClient.owner) == owner, col(OAuthClient.provider) == provider
        )
    )
    return bool(getattr(result, "rowcount", 0))
