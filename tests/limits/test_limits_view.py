"""``GET /v1/limits``: the calling tenant's limits, where each comes from, and current usage."""

from __future__ import annotations

import httpx

from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.limits.service import consume_daily_quota
from tests.conftest import make_tenant
from tests.limits.conftest import FakeClock, set_limits


async def test_defaults_for_a_new_tenant(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, settings: Settings
) -> None:
    ctx = await make_tenant(limited_runtime)
    r = await limited_client.get("/v1/limits", headers=ctx.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["tenant_id"] == ctx.tenant.id
    assert body["api"] == {
        "limit": settings.api_rate_limit_rpm,
        "window_seconds": 60,
        "source": "default",
        "remaining": settings.api_rate_limit_rpm - 1,  # this request is counted
        "reset_seconds": 1,
    }
    assert body["api_key"]["limit"] == settings.api_key_rate_limit_rpm
    assert body["api_key"]["remaining"] == settings.api_key_rate_limit_rpm - 1
    assert body["webhook_endpoint"]["limit"] == settings.webhook_rate_limit_rps
    assert body["webhook_endpoint"]["window_seconds"] == 1
    assert body["events_per_day"]["limit"] is None  # unlimited by default
    assert body["events_per_day"]["used"] == 0
    assert body["invocations_per_day"]["source"] == "default"


async def test_reflects_overrides_and_usage(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    other = await make_tenant(limited_runtime)
    await set_limits(
        limited_runtime,
        ctx.tenant.id,
        api_rpm=10,
        api_key_rpm=0,
        webhook_rps=7,
        events_per_day=100,
    )
    for _ in range(3):
        assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 200
    await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "events", n=40)
    await consume_daily_quota(limited_runtime, None, ctx.tenant.id, "invocations", n=2)
    await consume_daily_quota(limited_runtime, None, other.tenant.id, "events", n=9)

    r = await limited_client.get("/v1/limits", headers=ctx.headers)
    body = r.json()
    assert body["api"]["limit"] == 10
    assert body["api"]["source"] == "tenant"
    assert body["api"]["remaining"] == 6  # 3 x /v1/me + this request
    assert body["api"]["remaining"] == int(r.headers["ratelimit-remaining"])
    assert body["api"]["reset_seconds"] == 24
    assert body["api_key"] == {
        "limit": None,
        "window_seconds": 60,
        "source": "tenant",
        "remaining": None,
        "reset_seconds": None,
    }
    assert (body["webhook_endpoint"]["limit"], body["webhook_endpoint"]["source"]) == (7, "tenant")
    events = body["events_per_day"]
    assert (events["limit"], events["used"], events["remaining"]) == (100, 40, 60)
    assert events["source"] == "tenant"
    assert body["invocations_per_day"]["used"] == 2
    assert body["invocations_per_day"]["remaining"] is None
    # the other tenant sees only its own usage
    theirs = (await limited_client.get("/v1/limits", headers=other.headers)).json()
    assert theirs["events_per_day"]["used"] == 9
    assert theirs["api"]["source"] == "default"

    clock.advance(24)
    later = (await limited_client.get("/v1/limits", headers=ctx.headers)).json()
    assert later["api"]["remaining"] == 9


async def test_requires_an_api_key(limited_client: httpx.AsyncClient) -> None:
    r = await limited_client.get("/v1/limits")
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_api_key"


async def test_documented_in_openapi(limited_client: httpx.AsyncClient) -> None:
    spec = (await limited_client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/limits"]["get"]
    assert operation["operationId"] == "get_limits"
    assert operation["tags"] == ["limits"]
    assert {"200", "401", "429"} <= set(operation["responses"])
    assert "usage" in operation["description"]
