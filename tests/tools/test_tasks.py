"""Expired ``Idempotency-Key`` results are purged by a periodic job."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import col, select

from gateway import jobs
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import IdempotencyRecord
from gateway.models.base import utcnow
from gateway.tools.tasks import PURGE_IDEMPOTENCY, purge_idempotency
from tests.conftest import TenantCtx


async def test_records_older_than_a_day_are_purged(runtime: Runtime, tenant: TenantCtx) -> None:
    old, fresh = new_id("idem"), new_id("idem")
    async with runtime.sessionmaker() as session:
        for record_id, age in ((old, timedelta(hours=25)), (fresh, timedelta(hours=1))):
            session.add(
                IdempotencyRecord(
                    id=record_id,
                    tenant_id=tenant.tenant.id,
                    key=secrets.token_hex(6),
                    request_hash="0" * 64,
                    status="completed",
                    result={"ok": True},
                    created_at=utcnow() - age,
                )
            )
        await session.commit()
    assert await purge_idempotency({"runtime": runtime, "job_try": 1}) >= 1
    async with runtime.sessionmaker() as session:
        left = await session.execute(
            select(IdempotencyRecord.id).where(col(IdempotencyRecord.id).in_([old, fresh]))
        )
        assert list(left.scalars()) == [fresh]


def test_the_purge_runs_periodically() -> None:
    assert PURGE_IDEMPOTENCY in jobs.PERIODIC
