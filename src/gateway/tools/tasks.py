"""Background work of the tools domain: expiring stored ``Idempotency-Key`` results."""

from __future__ import annotations

import logging
from typing import Any, Final

from gateway.kit.db import transaction
from gateway.kit.queue import PeriodicJob
from gateway.kit.runtime import Runtime
from gateway.tools import idempotency

logger = logging.getLogger(__name__)


async def purge_idempotency(ctx: dict[str, Any]) -> int:
    """Delete idempotency records past their lifetime (24 h). Idempotent: a rerun deletes
    nothing more."""
    runtime: Runtime = ctx["runtime"]
    async with transaction(runtime.sessionmaker) as session:
        deleted = await idempotency.purge_expired(session)
    if deleted:
        logger.info("purged %d expired idempotency records", deleted)
    return deleted


PURGE_IDEMPOTENCY: Final = PeriodicJob("tools.purge_idempotency", purge_idempotency, 3600.0)
