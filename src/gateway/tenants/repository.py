from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.models import ApiKey, Tenant


async def get_tenant_by_name(session: AsyncSession, name: str) -> Tenant | None:
    result = await session.execute(select(Tenant).where(col(Tenant.name) == name))
    return result.scalar_one_or_none()


async def get_tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    result = await session.execute(select(Tenant).order_by(col(Tenant.created_at)))
    return list(result.scalars())


async def get_api_key_by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    result = await session.execute(select(ApiKey).where(col(ApiKey.prefix) == prefix))
    return result.scalar_one_or_none()


async def get_api_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_api_keys(session: AsyncSession, tenant_id: str) -> list[ApiKey]:
    result = await session.execute(
        select(ApiKey).where(col(ApiKey.tenant_id) == tenant_id).order_by(col(ApiKey.id).desc())
    )
    return list(result.scalars())


async def get_tenant_api_key(session: AsyncSession, tenant_id: str, key_id: str) -> ApiKey | None:
    result = await session.execute(
        select(ApiKey).where(col(ApiKey.tenant_id) == tenant_id, col(ApiKey.id) == key_id)
    )
    return result.scalar_one_or_none()
