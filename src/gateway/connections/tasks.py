"""Proactive refresh: a periodic job renewing tokens before they expire.

Every run lists renewable connections (all tenants) whose token expires within
``GATEWAY_CONNECTION_REFRESH_MARGIN_SECONDS`` and refreshes each through the same single-flight
path as on-demand refreshes, so several workers (or an API replica renewing on use) never
refresh a connection twice. Each connection gets a stable jitter (up to a quarter of the margin)
so tokens issued together are not all renewed in the same run. Tokens that expired more than
:data:`IDLE_AFTER` ago belong to idle connections: those renew on their next use instead.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import datetime, timedelta
from typing import Any, Final

from gateway.connections import repository
from gateway.connections.refresh import RefreshRequest, refresh
from gateway.kit.errors import GatewayError
from gateway.kit.queue import PeriodicJob
from gateway.kit.runtime import Runtime
from gateway.models.base import utcnow

logger = logging.getLogger(__name__)

INTERVAL_SECONDS: Final = 30.0
IDLE_AFTER: Final = timedelta(days=1)
BATCH: Final = 200
CONCURRENCY: Final = 4


def jitter(connection_id: str, margin: timedelta) -> timedelta:
    """A stable per-connection offset in ``[0, margin / 4)``."""
    quarter = max(1, int(margin.total_seconds() // 4))
    return timedelta(seconds=zlib.crc32(connection_id.encode()) % quarter)


async def refresh_expiring(runtime: Runtime, *, now: datetime | None = None) -> int:
    """Refresh every connection due in this run; returns how many tokens were renewed."""
    now = now or utcnow()
    margin = timedelta(seconds=runtime.settings.connection_refresh_margin_seconds)
    async with runtime.sessionmaker() as session:
        candidates = await repository.expiring(
            session, not_before=now - IDLE_AFTER, before=now + margin, limit=BATCH
        )
    due = [
        (cid, tid)
        for cid, tid, expires in candidates
        if expires < now + margin - jitter(cid, margin)
    ]
    gate = asyncio.Semaphore(CONCURRENCY)
    renewed = 0

    async def one(connection_id: str, tenant_id: str) -> None:
        nonlocal renewed
        request = RefreshRequest("expiring", valid_until=now + margin)
        async with gate:
            try:
                fresh = await refresh(
                    runtime, tenant_id=tenant_id, connection_id=connection_id, request=request
                )
            except GatewayError as exc:  # recorded on the connection; the next run retries
                logger.info("proactive refresh of %s failed: %s", connection_id, exc.code)
                return
        renewed += fresh.refreshed

    await asyncio.gather(*(one(cid, tid) for cid, tid in due))
    return renewed


async def refresh_expiring_connections(ctx: dict[str, Any]) -> int:
    """arq/in-process periodic task: ``ctx["runtime"]`` is the process's Runtime."""
    return await refresh_expiring(ctx["runtime"])


PERIODIC_REFRESH: Final = PeriodicJob(
    name="connections.refresh_expiring",
    function=refresh_expiring_connections,
    interval_seconds=INTERVAL_SECONDS,
)
