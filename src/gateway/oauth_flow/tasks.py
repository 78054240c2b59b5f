"""Housekeeping: expired connect sessions and OAuth states are deleted a day after expiry (kept
that long so a late replay is still recognised, and audited, as one)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from gateway.kit.db import transaction
from gateway.kit.queue import PeriodicJob
from gateway.kit.runtime import Runtime
from gateway.models.base import utcnow
from gateway.oauth_flow import repository

KEEP_AFTER_EXPIRY: Final = timedelta(days=1)


async def purge_expired(runtime: Runtime) -> int:
    async with transaction(runtime.sessionmaker) as session:
        return await repository.purge(session, utcnow() - KEEP_AFTER_EXPIRY)


async def purge_expired_flows(ctx: dict[str, Any]) -> int:
    """Periodic task (arq cron / in-process loop)."""
    return await purge_expired(ctx["runtime"])


PERIODIC_PURGE: Final = PeriodicJob(
    name="oauth_flow.purge_expired", function=purge_expired_flows, interval_seconds=3600.0
)
