"""Daily quotas: stored events and tool invocations per UTC day, refused past the cap with a
problem+json a client can act on (stable code, Retry-After until midnight UTC), and a metric."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.kit.metrics import QUOTA_EXCEEDED
from gateway.kit.problems import install_problem_handlers
from gateway.kit.runtime import Runtime
from gateway.limits.service import (
    QuotaExceeded,
    consume_daily_quota,
    limits_state,
    take_quota,
    usage,
)
from tests.conftest import make_tenant
from tests.limits.conftest import FakeClock, set_limits


def _noon(clock: FakeClock) -> None:
    """Move the clock to 12:00 UTC of its current day (away from midnight)."""
    day = datetime.fromtimestamp(clock.now, UTC).date()
    clock.now = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()


async def test_events_quota_refuses_past_the_cap_until_midnight(
    limited_runtime: Runtime, clock: FakeClock
) -> None:
    _noon(clock)
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, events_per_day=3)
    before = QUOTA_EXCEEDED.labels("events")._value.get()
    await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "events", n=2)
    await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "events")
    with pytest.raises(QuotaExceeded) as refused:
        await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "events")
    error = refused.value
    assert (error.status_code, error.code) == (429, "quota_exceeded")
    assert error.headers["Retry-After"] == str(12 * 3600)
    assert error.extra["quota"] == "events_per_day"
    assert (error.extra["limit"], error.extra["used"]) == (3, 3)
    assert QUOTA_EXCEEDED.labels("events")._value.get() == before + 1
    # invocations are a separate quota (unlimited by default)
    for _ in range(5):
        await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "invocations")
    view = await usage(limited_runtime, None, ctx.tenant.id)
    assert (view.events_per_day.used, view.events_per_day.remaining) == (3, 0)
    assert view.invocations_per_day.used == 5
    # the next UTC day starts from zero
    clock.advance(12 * 3600)
    await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "events", n=3)
    with pytest.raises(QuotaExceeded):
        await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "events")


async def test_a_batch_that_does_not_fit_is_refused_whole(
    limited_runtime: Runtime, clock: FakeClock
) -> None:
    _noon(clock)
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, invocations_per_day=10)
    await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "invocations", n=8)
    with pytest.raises(QuotaExceeded):
        await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "invocations", n=3)
    await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "invocations", n=2)
    view = await usage(limited_runtime, None, ctx.tenant.id)
    assert view.invocations_per_day.used == 10


async def test_quota_error_is_a_problem_document(
    limited_runtime: Runtime, clock: FakeClock
) -> None:
    _noon(clock)
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, invocations_per_day=1)
    # what a caller of a quota-guarded route receives (the invoke route wires the same call)
    probe = FastAPI()
    install_problem_handlers(probe)

    @probe.post("/invoke")
    async def invoke() -> dict[str, bool]:
        await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "invocations")
        return {"ok": True}

    transport = httpx.ASGITransport(app=probe)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/invoke")).status_code == 200
        r = await client.post("/invoke")
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == str(12 * 3600)
    body = r.json()
    assert body["code"] == "quota_exceeded"
    assert body["type"] == "/problems/quota_exceeded"
    assert body["limit"] == 1
    midnight = datetime.fromtimestamp(clock.now, UTC).replace(hour=0) + timedelta(days=1)
    assert datetime.fromisoformat(body["resets_at"]) == midnight


async def test_invocation_units_are_refused_locally_and_sent_in_one_round_trip(
    limited_runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invoke path never waits for the shared counter: five calls are counted locally,
    the sixth is refused by this process at once, and the units reach the shared counter
    together (``GET /v1/limits`` shows them)."""
    _noon(clock)
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, invocations_per_day=5)
    limiter = limits_state(limited_runtime).limiter
    sends: list[int] = []
    real_add = limiter.add

    async def counting_add(key: str, n: int, cap: int, ttl: int) -> Any:
        sends.append(n)
        return await real_add(key, n, cap, ttl)

    monkeypatch.setattr(limiter, "add", counting_add)
    for _ in range(5):
        await take_quota(limited_runtime, ctx.tenant.id, "invocations")
    with pytest.raises(QuotaExceeded) as refused:
        await take_quota(limited_runtime, ctx.tenant.id, "invocations")
    assert refused.value.extra["used"] == 5
    view = await usage(limited_runtime, None, ctx.tenant.id)
    assert view.invocations_per_day.used == 5
    assert sends == [5]
