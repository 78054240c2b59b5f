"""Queries for per-tenant limit overrides."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import TenantLimits


async def get_tenant_limits(session: AsyncSession, tenant_id: str) -> TenantLimits | None:
    return await session.get(TenantLimits, tenant_id)


async def get_or_create_tenant_limits(session: AsyncSession, tenant_id: str) -> TenantLimits:
    row = await session.get(TenantLimits, tenant_id)
    if row is None:
        row = TenantLimits(tenant_id=tenant_id)
        session.add(row)
    return row
