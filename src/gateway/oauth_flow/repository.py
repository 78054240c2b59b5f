"""Connect sessions and OAuth states; both are consumed with one conditional UPDATE.

``UPDATE … SET consumed_at = now WHERE hash = :h AND consumed_at IS NULL AND expires_at > now``
affects one row for exactly one caller: on PostgreSQL a concurrent second UPDATE waits for the
first to commit and then finds ``consumed_at`` set; SQLite runs writers one at a time.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.models import ConnectSession, OAuthState


async def consume_session(
    session: AsyncSession, token_hash: str, now: datetime
) -> ConnectSession | None:
    """The connect session for ``token_hash`` if this call consumed it, else None."""
    result = await session.execute(
        sa.update(ConnectSession)
        .where(
            col(ConnectSession.token_hash) == token_hash,
            col(ConnectSession.consumed_at).is_(None),
            col(ConnectSession.expires_at) > now,
        )
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    row = await session.execute(
        select(ConnectSession).where(col(ConnectSession.token_hash) == token_hash)
    )
    return row.scalar_one()


async def consume_state(
    session: AsyncSession, state_hash: str, browser_hash: str, provider: str, now: datetime
) -> bool:
    """True if this call consumed the (unexpired, unused) state of this browser and provider.

    The binding is part of the condition, so a request without the right cookie (or on another
    provider's route) cannot burn a state that the legitimate browser is about to use.
    """
    result = await session.execute(
        sa.update(OAuthState)
        .where(
            col(OAuthState.state_hash) == state_hash,
            col(OAuthState.browser_hash) == browser_hash,
            col(OAuthState.provider) == provider,
            col(OAuthState.consumed_at).is_(None),
            col(OAuthState.expires_at) > now,
        )
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def get_state(session: AsyncSession, state_hash: str) -> OAuthState | None:
    result = await session.execute(
        select(OAuthState)
        .where(col(OAuthState.state_hash) == state_hash)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def purge(session: AsyncSession, before: datetime) -> int:
    """Delete sessions and states that expired before ``before``; returns the row count."""
    removed = 0
    for model in (ConnectSession, OAuthState):
        result = await session.execute(sa.delete(model).where(col(model.expires_at) < before))
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
