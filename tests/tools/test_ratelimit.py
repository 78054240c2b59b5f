"""Per-connection outbound token buckets: in-process and Redis, one algorithm."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.tools.ratelimit import (
    BucketConfig,
    BucketStore,
    LocalBucketStore,
    OutboundLimiter,
    OutboundRateLimited,
    RedisBucketStore,
)
from tests.conftest import REDIS_URL, TenantCtx
from tests.tools.mock_api import Recorded, Reply, mock_api
from tests.tools.platforms import BY_PROVIDER
from tests.tools.support import (
    ToolEnv,
    create_toolset,
    invoke,
    make_connection,
    platform_mock,
    variant_app,
)

CONFIG = BucketConfig(rate=10.0, burst=3)
TASK = {"projectId": "OPS", "taskId": 1}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_local_bucket_bursts_then_spaces_reservations() -> None:
    clock = Clock()
    store = LocalBucketStore(CONFIG, clock=clock)
    waits = [await store.reserve("c1", max_wait=10) for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2])
    assert await store.reserve("c2", max_wait=10) == 0  # buckets are per connection
    clock.now += 1.0  # refill: 10/s, capped at the burst
    assert [await store.reserve("c1", max_wait=10) for _ in range(4)] == pytest.approx(
        [0, 0, 0, 0.1]
    )


async def test_local_bucket_refuses_beyond_max_wait_without_reserving() -> None:
    store = LocalBucketStore(BucketConfig(rate=1.0, burst=1), clock=Clock())
    assert await store.reserve("c", max_wait=0.5) == 0
    assert await store.reserve("c", max_wait=0.5) == pytest.approx(-1.0)
    assert await store.reserve("c", max_wait=0.5) == pytest.approx(-1.0)  # nothing was taken
    assert await store.reserve("c", max_wait=5) == pytest.approx(1.0)


async def test_platform_penalty_holds_every_caller_then_spaces_them() -> None:
    clock = Clock()
    store = LocalBucketStore(CONFIG, clock=clock)
    await store.penalize("c", 5.0)
    waits = [await store.reserve("c", max_wait=10) for _ in range(3)]
    assert waits == pytest.approx([5.0, 5.1, 5.2])


async def test_limiter_sleeps_for_its_reservation_and_raises_when_refused() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = OutboundLimiter(LocalBucketStore(BucketConfig(rate=2.0, burst=1), clock=Clock()))
    assert await limiter.acquire("c", 1.0, sleep=sleep) == 0
    assert await limiter.acquire("c", 1.0, sleep=sleep) == pytest.approx(0.5)
    with pytest.raises(OutboundRateLimited) as refused:
        await limiter.acquire("c", 0.2, sleep=sleep)
    assert refused.value.wait_seconds == pytest.approx(1.0)
    assert slept == pytest.approx([0.5])


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_bucket_is_shared_by_every_process(redis: Redis) -> None:
    key = f"test:{secrets.token_hex(6)}"
    # Two stores = two API replicas: they draw from one bucket.
    first, second = RedisBucketStore(redis, CONFIG), RedisBucketStore(redis, CONFIG)
    waits = [await s.reserve(key, max_wait=10) for s in (first, second, first, second, first)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] == pytest.approx(0.1, abs=0.01)
    assert waits[4] == pytest.approx(0.2, abs=0.01)
    assert await second.reserve(key, max_wait=0.05) < 0  # refused, nothing reserved
    # Reservations already queued keep their places after a platform penalty.
    await first.penalize(key, 2.0)
    assert await second.reserve(key, max_wait=10) == pytest.approx(2.3, abs=0.05)
    assert 0 < await redis.pttl(f"gw:tool-rate:{key}") <= 5000  # state expires on its own
    fresh = f"{key}:fresh"
    await first.penalize(fresh, 2.0)
    assert [await second.reserve(fresh, max_wait=10) for _ in range(2)] == [
        pytest.approx(2.0, abs=0.05),
        pytest.approx(2.1, abs=0.05),
    ]


@pytest.mark.redis
async def test_redis_reservations_are_atomic_under_concurrency(redis: Redis) -> None:
    key = f"test:{secrets.token_hex(6)}"
    store: BucketStore = RedisBucketStore(redis, BucketConfig(rate=100.0, burst=5))
    waits = await asyncio.gather(*(store.reserve(key, max_wait=10) for _ in range(25)))
    assert sorted(waits)[:5] == [0, 0, 0, 0, 0]
    # 20 more tokens at 10 ms each: every reservation got its own slot.
    assert sorted(waits)[-1] == pytest.approx(0.2, abs=0.02)
    assert len(set(waits[5:])) >= 15


async def test_redis_outage_fails_open() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        store = RedisBucketStore(unreachable, CONFIG)
        assert await store.reserve("c", max_wait=1) == 0
        await store.penalize("c", 1.0)  # no error either
    finally:
        await unreachable.aclose()


async def test_calls_on_one_connection_are_spaced_by_its_bucket(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, settings: Settings
) -> None:
    arrivals: list[float] = []

    def record(request: Recorded) -> Reply:
        arrivals.append(time.monotonic())
        return Reply(body={"ok": True})

    connection_id = await make_connection(runtime, tenant.tenant.id, "tasks-oauth", "t" * 12)
    async with mock_api(record) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=api.url,
            auth={"type": "oauth_connection", "connection_id": connection_id},
        )
        name = f"{toolset['name']}.getTask"
        async with variant_app(settings, tool_rate_per_second=5.0, tool_rate_burst=2) as limited:
            results = await asyncio.gather(
                *(invoke(limited, tenant.headers, name, TASK) for _ in range(4))
            )
    assert all(r.json()["ok"] for r in results)
    arrivals.sort()
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert gaps[0] < 0.1  # the burst
    assert all(gap >= 0.15 for gap in gaps[1:]), gaps  # then one every 0.2 s


async def test_a_full_bucket_beyond_the_wait_bound_is_a_429_before_sending(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, settings: Settings
) -> None:
    connection_id = await make_connection(runtime, tenant.tenant.id, "tasks-oauth", "t" * 12)
    async with mock_api() as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=api.url,
            auth={"type": "oauth_connection", "connection_id": connection_id},
        )
        name = f"{toolset['name']}.getTask"
        async with variant_app(settings, tool_rate_per_second=0.05, tool_rate_burst=1) as limited:
            first = await invoke(limited, tenant.headers, name, TASK)
            second = await invoke(limited, tenant.headers, name, TASK)
    assert first.json()["ok"] is True
    assert second.status_code == 429
    assert second.json()["code"] == "outbound_rate_limited"
    assert 15 <= int(second.headers["retry-after"]) <= 21
    assert len(api.requests) == 1


@pytest.mark.usefixtures("tool_env")
async def test_a_platform_429_holds_other_calls_on_the_same_connection(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    slack = BY_PROVIDER["slack"]
    connection_id = await make_connection(runtime, tenant.tenant.id, "slack", slack.token("b"))
    with platform_mock() as mock:
        mock.post(url__regex=slack.url).mock(
            side_effect=[slack.rate_limited, slack.success, slack.success]
        )
        first = await invoke(
            client, tenant.headers, "slack.send_message", slack.params, connection_id=connection_id
        )
        waits_before = len(tool_env.waits)
        second = await invoke(
            client, tenant.headers, "slack.send_message", slack.params, connection_id=connection_id
        )
    assert first.json()["ok"] is True
    assert second.json()["ok"] is True
    # The sleeps are recorded, not slept: the bucket still holds the platform's 3 s penalty,
    # so the *next* call on this connection waits for it too.
    assert tool_env.waits[waits_before] == pytest.approx(3.0, abs=0.3)


async def test_the_daily_invocation_quota_is_charged_before_sending(
    client: httpx.AsyncClient, tenant: TenantCtx, settings: Settings
) -> None:
    async with mock_api() as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        name = f"{toolset['name']}.getHealth"
        async with variant_app(settings, quota_invocations_per_day=2) as capped:
            results = [await invoke(capped, tenant.headers, name, {}) for _ in range(3)]
    assert [r.status_code for r in results] == [200, 200, 429]
    assert results[2].json()["code"] == "quota_exceeded"
    assert len(api.requests) == 2


async def test_api_key_toolsets_are_not_paced_by_the_gateway(
    client: httpx.AsyncClient, tenant: TenantCtx, settings: Settings
) -> None:
    async with mock_api() as api:
        toolset = await create_toolset(
            client, tenant.headers, server_url=api.url, auth={"type": "api_key", "value": "k" * 8}
        )
        name = f"{toolset['name']}.getHealth"
        async with variant_app(settings, tool_rate_per_second=0.05, tool_rate_burst=1) as limited:
            results = [await invoke(limited, tenant.headers, name, {}) for _ in range(3)]
    assert [r.status_code for r in results] == [200, 200, 200]
    assert len(api.requests) == 3
