"""The limiter library: GCRA arithmetic, all-or-nothing buckets, daily counters, and a backend
outage — on the in-process backend and (Redis tier) on real Redis running the Lua scripts."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from gateway.kit.metrics import RATE_LIMITER_ERRORS
from gateway.limits.limiter import (
    Bucket,
    InProcessBackend,
    Limiter,
    LimiterBackend,
    Rate,
    RedisBackend,
)
from tests.conftest import REDIS_URL
from tests.limits.conftest import FakeClock


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[LimiterBackend]:
    if request.param == "memory":
        yield InProcessBackend()
        return
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    try:
        yield RedisBackend(redis)
    finally:
        await redis.aclose()


def key(name: str) -> str:
    return f"gwtest:limits:{{{secrets.token_hex(6)}}}:{name}"


async def test_burst_then_one_per_interval(backend: LimiterBackend) -> None:
    clock = FakeClock()
    limiter = Limiter(backend, clock=clock)
    bucket = Bucket(key("b"), Rate(3, 60))
    seen = [(await limiter.hit([bucket]))[0] for _ in range(3)]
    assert [d.allowed for d in seen] == [True, True, True]
    assert [d.remaining for d in seen] == [2, 1, 0]
    assert seen[-1].reset_after == pytest.approx(60)

    [refused] = await limiter.hit([bucket])
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == pytest.approx(20)

    clock.advance(19.5)
    assert not (await limiter.hit([bucket]))[0].allowed
    clock.advance(0.5)
    [again] = await limiter.hit([bucket])
    assert again.allowed
    assert again.remaining == 0

    clock.advance(60)
    assert [(await limiter.hit([bucket]))[0].allowed for _ in range(4)] == [True] * 3 + [False]


async def test_refused_request_charges_no_bucket(backend: LimiterBackend) -> None:
    limiter = Limiter(backend, clock=FakeClock())
    narrow, wide = Bucket(key("key"), Rate(2, 60)), Bucket(key("tenant"), Rate(10, 60))
    for _ in range(2):
        assert all(d.allowed for d in await limiter.hit([narrow, wide]))
    for _ in range(20):
        decisions = await limiter.hit([narrow, wide])
        assert not any(d.allowed for d in decisions)
    # the wide bucket paid for the 2 accepted requests only
    [state] = await limiter.peek([wide]) or []
    assert state.remaining == 8


async def test_peek_does_not_charge(backend: LimiterBackend) -> None:
    limiter = Limiter(backend, clock=FakeClock())
    bucket = Bucket(key("p"), Rate(2, 1))
    for _ in range(5):
        [state] = await limiter.peek([bucket]) or []
        assert state.remaining == 2
    await limiter.hit([bucket])
    [state] = await limiter.peek([bucket]) or []
    assert state.remaining == 1
    assert state.reset_after == pytest.approx(0.5)


async def test_counter_stops_at_the_cap_without_counting(backend: LimiterBackend) -> None:
    limiter = Limiter(backend, clock=FakeClock())
    counter = key("quota")
    assert (await limiter.add(counter, 2, 3, ttl=60)).used == 2
    assert (await limiter.add(counter, 1, 3, ttl=60)).allowed
    refused = await limiter.add(counter, 1, 3, ttl=60)
    assert not refused.allowed
    assert refused.used == 3
    assert not (await limiter.add(counter, 5, 3, ttl=60)).allowed
    assert await limiter.counts([counter, key("unused")]) == [3, 0]
    uncapped = key("free")
    for _ in range(4):
        assert (await limiter.add(uncapped, 10, 0, ttl=60)).allowed
    assert await limiter.counts([uncapped]) == [40]


async def test_in_process_counter_expires() -> None:
    clock = FakeClock()
    limiter = Limiter(InProcessBackend(), clock=clock)
    await limiter.add("q", 3, 3, ttl=10)
    assert not (await limiter.add("q", 1, 3, ttl=10)).allowed
    clock.advance(10)
    assert await limiter.counts(["q"]) == [0]
    assert (await limiter.add("q", 1, 3, ttl=10)).used == 1


async def test_in_process_backend_prunes_idle_buckets() -> None:
    clock = FakeClock()
    backend = InProcessBackend()
    limiter = Limiter(backend, clock=clock)
    for i in range(InProcessBackend.PRUNE_EVERY - 1):
        await limiter.hit([Bucket(f"k{i}", Rate(10, 1))])
    assert len(backend) == InProcessBackend.PRUNE_EVERY - 1
    clock.advance(2)  # every bucket is full again: entries carry no information
    await limiter.hit([Bucket("last", Rate(10, 1))])
    assert len(backend) <= 1


async def test_redis_outage_lets_requests_through_and_is_counted() -> None:
    # Nothing listens on port 1: every call fails fast, like a Redis that is down.
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        limiter = Limiter(RedisBackend(redis), clock=FakeClock())
        before = RATE_LIMITER_ERRORS.labels("hit")._value.get()
        bucket = Bucket(key("down"), Rate(1, 60))
        for _ in range(3):
            [decision] = await limiter.hit([bucket])
            assert decision.allowed
        assert RATE_LIMITER_ERRORS.labels("hit")._value.get() == before + 3
        assert await limiter.peek([bucket]) is None
        assert (await limiter.add(key("q"), 1, 1, ttl=60)).allowed
    finally:
        await redis.aclose()


steps = st.lists(
    st.tuples(st.floats(min_value=0, max_value=3, allow_nan=False), st.integers(1, 3)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=st.integers(1, 20), period=st.sampled_from([1.0, 2.5, 60.0]), plan=steps)
async def test_never_admits_more_than_the_rate_allows(
    limit: int, period: float, plan: list[tuple[float, int]]
) -> None:
    """GCRA bound: over any span of t seconds, accepted units <= limit + t * limit / period."""
    clock = FakeClock()
    limiter = Limiter(InProcessBackend(), clock=clock)
    rate = Rate(limit, period)
    bucket = Bucket("prop", rate)
    accepted: list[tuple[float, int]] = []
    for gap, cost in plan:
        clock.advance(gap)
        [decision] = await limiter.hit([bucket], cost=cost)
        if decision.allowed:
            accepted.append((clock.now, cost))
        else:
            assert decision.retry_after > 0
    for i, (start, _) in enumerate(accepted):
        for j in range(i, len(accepted)):
            span = accepted[j][0] - start
            units = sum(c for _, c in accepted[i : j + 1])
            assert units <= limit + span / rate.interval + 1e-6


@pytest.mark.redis
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=st.integers(1, 10), period=st.sampled_from([1.0, 60.0]), plan=steps)
async def test_redis_script_decides_like_the_in_process_backend(
    limit: int, period: float, plan: list[tuple[float, int]]
) -> None:
    """Replicas on Redis and the embedded mode enforce the same limits."""
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    try:
        clock = FakeClock()
        memory = Limiter(InProcessBackend(), clock=clock)
        shared = Limiter(RedisBackend(redis), clock=clock)
        rate = Rate(limit, period)
        local, remote = Bucket("same", rate), Bucket(key("same"), rate)
        for gap, cost in plan:
            clock.advance(gap)
            [a] = await memory.hit([local], cost=cost)
            [b] = await shared.hit([remote], cost=cost)
            assert (a.allowed, a.remaining) == (b.allowed, b.remaining)
            assert a.retry_after == pytest.approx(b.retry_after, abs=1e-5)
            assert a.reset_after == pytest.approx(b.reset_after, abs=1e-5)
    finally:
        await redis.aclose()
