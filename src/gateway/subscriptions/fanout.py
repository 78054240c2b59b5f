"""Fan-out seam: called once an event is stored in its unified form (webhook events after
normalisation, ``connection.*`` events when they happen), inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Event


async def fan_out(session: AsyncSession, event: Event) -> int:
    """Create one delivery per matching subscription; returns how many were created.

    Until subscriptions exist no event has anyone to go to.
    """
    return 0
