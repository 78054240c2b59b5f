"""API rate limits as a client sees them: RateLimit-* headers on every authenticated response,
429 problem+json with Retry-After past the limit, recovery after the window, per key and per
tenant buckets, and (Redis tier) one budget shared by two API instances."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from gateway.app import create_app
from gateway.kit.metrics import RATE_LIMITED
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.limits.limiter import InProcessBackend, RedisBackend
from gateway.limits.service import limits_state
from tests.conftest import make_tenant
from tests.limits.conftest import FakeClock, set_limits

HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


def remaining(r: httpx.Response) -> int:
    return int(r.headers["ratelimit-remaining"])


async def test_headers_on_every_authenticated_response(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, api_rpm=10, api_key_rpm=0)
    ok = await limited_client.get("/v1/me", headers=ctx.headers)
    assert ok.status_code == 200
    assert ok.headers["ratelimit-limit"] == "10"
    assert ok.headers["ratelimit-policy"] == "10;w=60"
    assert remaining(ok) == 9
    assert ok.headers["ratelimit-reset"] == "6"  # one request = 60 s / 10 to refill
    # an error problem raised by the route after authentication carries them too
    missing = await limited_client.delete("/v1/api-keys/key_nope", headers=ctx.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert remaining(missing) == 8
    assert missing.headers["ratelimit-reset"] == "12"
    # so does a validation failure
    invalid = await limited_client.post("/v1/api-keys", json={"label": 5}, headers=ctx.headers)
    assert invalid.status_code == 422
    assert remaining(invalid) == 7
    # unauthenticated requests are not charged to anyone and carry no limit headers
    anonymous = await limited_client.get("/v1/me")
    assert anonymous.status_code == 401
    assert not any(h in anonymous.headers for h in HEADERS)


async def test_tool_invocations_carry_the_headers_and_are_charged_once(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    """Invoke has its own raw route, which hands malformed requests to the documented one:
    each request is still charged exactly once and answered with the headers."""
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, api_rpm=10, api_key_rpm=0)
    url = "/v1/tools/nope.op/invoke"
    served = await limited_client.post(url, json={"parameters": {}}, headers=ctx.headers)
    assert (served.status_code, served.json()["code"]) == (404, "tool_not_found")
    assert served.headers["ratelimit-limit"] == "10"
    assert remaining(served) == 9
    handed_over = await limited_client.post(url, json={"parameters": 3}, headers=ctx.headers)
    assert handed_over.status_code == 422
    assert remaining(handed_over) == 8
    for _ in range(8):
        await limited_client.post(url, json={"parameters": {}}, headers=ctx.headers)
    refused = await limited_client.post(url, json={"parameters": {}}, headers=ctx.headers)
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert refused.headers["retry-after"] == "6"


async def test_over_the_limit_is_429_then_allowed_after_the_window(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, api_rpm=3, api_key_rpm=0)
    before = RATE_LIMITED.labels("api_tenant")._value.get()
    statuses = [
        (await limited_client.get("/v1/me", headers=ctx.headers)).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 200]

    refused = await limited_client.get("/v1/me", headers=ctx.headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "rate_limited"
    assert problem["limit_scope"] == "api_tenant"
    assert refused.headers["retry-after"] == "20"  # the next slot: 60 s / 3
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == "60"
    assert RATE_LIMITED.labels("api_tenant")._value.get() == before + 1

    clock.advance(19)
    assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 429
    clock.advance(1)
    assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 200
    clock.advance(60)  # a whole window: the full budget is back
    statuses = [
        (await limited_client.get("/v1/me", headers=ctx.headers)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


async def test_a_key_hammering_past_its_limit_costs_no_database_work(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, api_rpm=0, api_key_rpm=2)
    for _ in range(2):
        assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 200
    assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 429
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = limited_runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(50):
            r = await limited_client.get("/v1/me", headers=ctx.headers)
            assert r.status_code == 429
            assert r.json()["limit_scope"] == "api_key"
            assert r.headers["retry-after"] == "30"
            assert (r.headers["ratelimit-limit"], remaining(r)) == ("2", 0)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []
    # once the Retry-After has passed the key is looked up (and charged) again
    clock.advance(30)
    r = await limited_client.get("/v1/me", headers=ctx.headers)
    assert r.status_code == 200
    assert remaining(r) == 0
    assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 429
    # a forged secret with a real prefix is never let through, throttled or not
    prefix = ctx.api_key.split("_", 2)[1]
    forged = f"gwk_{prefix}_{'x' * 43}"
    r = await limited_client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 429
    clock.advance(30)
    r = await limited_client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_per_key_limit_leaves_the_tenants_other_keys_working(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, api_rpm=6, api_key_rpm=2)
    created = await limited_client.post("/v1/api-keys", json={}, headers=ctx.headers)
    second = {"Authorization": f"Bearer {created.json()['api_key']}"}
    assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 200
    # the first key has used its 2; hammering it is refused and spends nothing
    for _ in range(10):
        r = await limited_client.get("/v1/me", headers=ctx.headers)
        assert r.status_code == 429
        assert r.json()["limit_scope"] == "api_key"
        assert r.headers["ratelimit-limit"] == "2"
    ok = await limited_client.get("/v1/me", headers=second)
    assert ok.status_code == 200
    # the tightest bucket is the one shown: this key has 1 of 2 left, the tenant 3 of 6
    assert (ok.headers["ratelimit-limit"], remaining(ok)) == ("2", 1)


async def test_tenant_limit_spans_all_keys_and_spares_other_tenants(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    other = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, api_rpm=3, api_key_rpm=10)
    await set_limits(limited_runtime, other.tenant.id, api_rpm=3, api_key_rpm=10)
    created = await limited_client.post("/v1/api-keys", json={}, headers=ctx.headers)
    second = {"Authorization": f"Bearer {created.json()['api_key']}"}
    assert (await limited_client.get("/v1/me", headers=second)).status_code == 200
    assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 200
    refused = await limited_client.get("/v1/me", headers=second)
    assert refused.status_code == 429
    assert refused.json()["limit_scope"] == "api_tenant"
    r = await limited_client.get("/v1/me", headers=other.headers)
    assert r.status_code == 200
    assert remaining(r) == 2


async def test_deployment_defaults_apply_without_an_override(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, settings: Settings
) -> None:
    ctx = await make_tenant(limited_runtime)
    r = await limited_client.get("/v1/me", headers=ctx.headers)
    assert settings.api_key_rate_limit_rpm < settings.api_rate_limit_rpm
    assert r.headers["ratelimit-limit"] == str(settings.api_key_rate_limit_rpm)
    assert remaining(r) == settings.api_key_rate_limit_rpm - 1


async def test_unlimited_tenant_gets_no_limit_headers(
    limited_client: httpx.AsyncClient, limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, api_rpm=0, api_key_rpm=0)
    for _ in range(5):
        r = await limited_client.get("/v1/me", headers=ctx.headers)
        assert r.status_code == 200
        assert "ratelimit-limit" not in r.headers


@pytest.mark.redis
async def test_two_api_instances_share_one_budget(settings: Settings, migrated: None) -> None:
    first, second = create_app(settings), create_app(settings)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        _client(first) as a,
        _client(second) as b,
    ):
        ctx = await make_tenant(first.state.runtime)
        await set_limits(first.state.runtime, ctx.tenant.id, api_rpm=4, api_key_rpm=0)
        seen = []
        for client in (a, b, a, b, a, b):
            r = await client.get("/v1/me", headers=ctx.headers)
            seen.append((r.status_code, r.headers.get("ratelimit-remaining")))
        assert seen == [
            (200, "3"),
            (200, "2"),
            (200, "1"),
            (200, "0"),
            (429, "0"),
            (429, "0"),
        ]


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_backend_matches_the_deployment(limited_runtime: Runtime) -> None:
    """Replicas share Redis buckets; the embedded mode keeps them in process."""
    backend = limits_state(limited_runtime).limiter.backend
    expected = RedisBackend if limited_runtime.settings.redis_url else InProcessBackend
    assert isinstance(backend, expected)


async def test_every_authenticated_operation_documents_401_and_429(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    authenticated = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("security")
    ]
    assert len(authenticated) > 30
    for path, method, operation in authenticated:
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert "application/problem+json" in responses["401"]["content"], where
        assert "Retry-After" in responses["429"]["headers"], where
        success = [r for status, r in responses.items() if status.startswith("2")]
        assert success, where
        assert all("RateLimit-Remaining" in r["headers"] for r in success), where
    receiver = document["paths"]["/webhooks/{provider}/{endpoint_id}"]["post"]["responses"]
    assert "429" in receiver  # flood control and the daily events quota
