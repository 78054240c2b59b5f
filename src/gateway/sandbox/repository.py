"""Queries of the sandbox platform.

Sandbox rows are read and written through the sandbox store's sessions (``store.py``); the few
gateway rows the platform needs (the OAuth clients registered for ``sandbox``, the connect flow
behind a consent request, the tenant's name) are read through the gateway's session. Every
sandbox query filters by ``tenant_id`` except the lookups by a secret's hash, whose row then
names its tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import (
    Event,
    OAuthClient,
    OAuthState,
    SandboxAuthorizationCode,
    SandboxGrant,
    SandboxMessage,
    SandboxToken,
    Tenant,
)

PROVIDER = "sandbox"
_MESSAGE_ID = cast(InstrumentedAttribute[str], SandboxMessage.id)


# --- gateway rows (read only) -------------------------------------------------------------------


async def clients_with_id(session: AsyncSession, client_id: str) -> list[OAuthClient]:
    """Every OAuth client registered for the sandbox under this client id (system or tenant)."""
    result = await session.execute(
        select(OAuthClient).where(
            col(OAuthClient.provider) == PROVIDER, col(OAuthClient.client_id) == client_id
        )
    )
    return list(result.scalars())


async def pending_flow_tenant(session: AsyncSession, state_hash: str, now: datetime) -> str | None:
    """The tenant of the sandbox connect flow in flight with this state, if any."""
    result = await session.execute(
        select(OAuthState.tenant_id).where(
            col(OAuthState.state_hash) == state_hash,
            col(OAuthState.provider) == PROVIDER,
            col(OAuthState.consumed_at).is_(None),
            col(OAuthState.expires_at) > now,
        )
    )
    return result.scalar_one_or_none()


async def stored_event_id(
    session: AsyncSession, tenant_id: str, endpoint_id: str, provider_event_id: str
) -> str | None:
    """The gateway's event row for a delivery the sandbox made to one of the tenant's endpoints."""
    result = await session.execute(
        select(Event.id).where(
            col(Event.tenant_id) == tenant_id,
            col(Event.endpoint_id) == endpoint_id,
            col(Event.provider_event_id) == provider_event_id,
        )
    )
    return result.scalar_one_or_none()


async def tenant_name(session: AsyncSession, tenant_id: str) -> str | None:
    result = await session.execute(select(Tenant.name).where(col(Tenant.id) == tenant_id))
    return result.scalar_one_or_none()


# --- authorization codes, grants, tokens ---------------------------------------------------------


async def code_by_hash(session: AsyncSession, code_hash: str) -> SandboxAuthorizationCode | None:
    result = await session.execute(
        select(SandboxAuthorizationCode).where(col(SandboxAuthorizationCode.code_hash) == code_hash)
    )
    return result.scalar_one_or_none()


async def mark_code_used(
    session: AsyncSession, code: SandboxAuthorizationCode, now: datetime
) -> bool:
    """True if this call used the code (one conditional UPDATE: exactly one caller wins)."""
    result = await session.execute(
        sa.update(SandboxAuthorizationCode)
        .where(
            col(SandboxAuthorizationCode.id) == code.id,
            col(SandboxAuthorizationCode.tenant_id) == code.tenant_id,
            col(SandboxAuthorizationCode.used_at).is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def token_by_hash(session: AsyncSession, token_hash: str) -> SandboxToken | None:
    result = await session.execute(
        select(SandboxToken).where(col(SandboxToken.token_hash) == token_hash)
    )
    return result.scalar_one_or_none()


async def mark_token_rotated(session: AsyncSession, token: SandboxToken, now: datetime) -> bool:
    """True if this call used the refresh token (it is single-use)."""
    result = await session.execute(
        sa.update(SandboxToken)
        .where(
            col(SandboxToken.id) == token.id,
            col(SandboxToken.tenant_id) == token.tenant_id,
            col(SandboxToken.rotated_at).is_(None),
        )
        .values(rotated_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def get_grant(session: AsyncSession, tenant_id: str, grant_id: str) -> SandboxGrant | None:
    result = await session.execute(
        select(SandboxGrant)
        .where(col(SandboxGrant.tenant_id) == tenant_id, col(SandboxGrant.id) == grant_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def revoke_grant(
    session: AsyncSession, tenant_id: str, grant_id: str, reason: str, now: datetime
) -> None:
    """Revoke a grant (and so every token of its family); the first reason recorded stays."""
    await session.execute(
        sa.update(SandboxGrant)
        .where(
            col(SandboxGrant.tenant_id) == tenant_id,
            col(SandboxGrant.id) == grant_id,
            col(SandboxGrant.revoked_at).is_(None),
        )
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


# --- messages ----------------------------------------------------------------------------------


async def list_messages(
    session: AsyncSession, tenant_id: str, conversation: str | None, params: PageParams
) -> list[SandboxMessage]:
    query = select(SandboxMessage).where(col(SandboxMessage.tenant_id) == tenant_id)
    if conversation is not None:
        query = query.where(col(SandboxMessage.conversation) == conversation)
    result = await session.execute(apply_page(query, _MESSAGE_ID, params))
    return list(result.scalars())
