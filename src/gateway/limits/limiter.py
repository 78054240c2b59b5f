"""Rate limiting: GCRA buckets and daily counters over two interchangeable backends.

A bucket of ``limit`` units per ``period`` is kept as one number per key, its *theoretical
arrival time* (TAT, GCRA — the generic cell rate algorithm, a token bucket without a refill
timer). Each unit pushes the TAT ``period / limit`` seconds further; a request fits while the
TAT stays within ``period`` of now. So a full bucket allows a burst of ``limit`` units, then one
unit every ``period / limit`` seconds; an idle bucket simply has a TAT in the past.

    remaining   = floor((period - (TAT - now)) / interval)
    reset_after = TAT - now                       (until the bucket is full again)
    retry_after = TAT + cost·interval - period - now   (when a refused request would fit)

Several buckets are checked all-or-nothing in one step (per API key *and* per tenant): a request
refused by one bucket charges none, so a throttled key does not drain its tenant's budget.

Backends: :class:`RedisBackend` (one Lua script per call, so every API replica shares the same
buckets) and :class:`InProcessBackend` (embedded mode). Both run the same arithmetic on the time
the :class:`Limiter`'s injectable clock gives them. A Redis failure lets the request through
(a limiter outage must not become an API outage), logged and counted in
``gateway_rate_limiter_errors_total``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.kit.metrics import RATE_LIMITER_ERRORS

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

#: Slack in seconds for float rounding (unix times near 1.7e9 have ~0.24 µs resolution): a
#: request arriving exactly on its slot fits.
EPSILON: Final = 1e-6


@dataclass(frozen=True)
class Rate:
    """``limit`` units per ``period`` seconds (a bucket of ``limit`` that refills in ``period``)."""

    limit: int
    period: float

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.period <= 0:
            raise ValueError("a rate needs a positive limit and period")

    @property
    def interval(self) -> float:
        return self.period / self.limit


@dataclass(frozen=True)
class Bucket:
    key: str
    rate: Rate


@dataclass(frozen=True)
class RateDecision:
    """One bucket's verdict and state after the call."""

    allowed: bool
    rate: Rate
    remaining: int
    reset_after: float
    retry_after: float


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    used: int


class LimiterUnavailable(Exception):
    """The backend could not answer (Redis down or slow)."""


def fits(tat: float, now: float, rate: Rate, cost: int) -> bool:
    return max(tat, now) + cost * rate.interval - rate.period <= now + EPSILON


def decide(tat: float, now: float, rate: Rate, cost: int, charged: bool) -> RateDecision:
    """The decision for one bucket whose stored TAT was ``tat`` before this call."""
    base = max(tat, now)
    level = base + cost * rate.interval if charged else base
    backlog = level - now
    remaining = max(0, math.floor((rate.period - backlog + EPSILON) / rate.interval))
    retry_after = 0.0
    if not fits(tat, now, rate, cost):
        retry_after = max(0.0, base + cost * rate.interval - rate.period - now)
    return RateDecision(
        allowed=charged or cost == 0,
        rate=rate,
        remaining=min(remaining, rate.limit),
        reset_after=max(0.0, backlog),
        retry_after=retry_after,
    )


class LimiterBackend(Protocol):
    async def acquire(
        self, buckets: Sequence[Bucket], now: float, cost: int
    ) -> tuple[bool, list[float]]:
        """Charge ``cost`` to every bucket if it fits in each (cost 0: read only).

        Returns whether it was charged and each bucket's TAT as it was before (now if unset).
        """
        ...

    async def add(self, key: str, n: int, cap: int, now: float, ttl: int) -> QuotaDecision:
        """Add ``n`` to a counter unless that would pass ``cap`` (0 = no cap)."""
        ...

    async def counts(self, keys: Sequence[str], now: float) -> list[int]: ...


class InProcessBackend:
    """Buckets in a dict: embedded mode (one process). Idle keys are pruned as it goes."""

    PRUNE_EVERY: Final = 4096

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._ops = 0

    def __len__(self) -> int:
        return len(self._tats) + len(self._counters)

    async def acquire(
        self, buckets: Sequence[Bucket], now: float, cost: int
    ) -> tuple[bool, list[float]]:
        tats = [self._tats.get(b.key, now) for b in buckets]
        charged = cost > 0 and all(
            fits(t, now, b.rate, cost) for t, b in zip(tats, buckets, strict=True)
        )
        if charged:
            for t, b in zip(tats, buckets, strict=True):
                self._tats[b.key] = max(t, now) + cost * b.rate.interval
        self._tick(now)
        return charged, tats

    async def add(self, key: str, n: int, cap: int, now: float, ttl: int) -> QuotaDecision:
        used, expires = self._counters.get(key, (0, 0.0))
        if expires <= now:
            used = 0
        if cap > 0 and used + n > cap:
            return QuotaDecision(False, used)
        self._counters[key] = (used + n, now + ttl)
        self._tick(now)
        return QuotaDecision(True, used + n)

    async def counts(self, keys: Sequence[str], now: float) -> list[int]:
        out = []
        for key in keys:
            used, expires = self._counters.get(key, (0, 0.0))
            out.append(used if expires > now else 0)
        return out

    def _tick(self, now: float) -> None:
        self._ops += 1
        if self._ops % self.PRUNE_EVERY:
            return
        # A TAT in the past is a full bucket: the same as no entry at all.
        self._tats = {k: v for k, v in self._tats.items() if v > now}
        self._counters = {k: v for k, v in self._counters.items() if v[1] > now}


# KEYS: bucket keys. ARGV: now, cost, then (interval, period) per key. All-or-nothing.
# Returns {charged, tat_1, …} with each TAT as it was before (now when the key was absent).
_GCRA_LUA: Final = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local tats = {}
local ok = 1
for i = 1, #KEYS do
  local interval = tonumber(ARGV[1 + 2 * i])
  local period = tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or ARGV[1])
  tats[i] = tat
  if math.max(tat, now) + cost * interval - period > now + 1e-6 then ok = 0 end
end
if cost <= 0 then ok = 0 end
if ok == 1 then
  for i = 1, #KEYS do
    local interval = tonumber(ARGV[1 + 2 * i])
    local new_tat = math.max(tats[i], now) + cost * interval
    local ttl = math.ceil((new_tat - now) * 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%.17g', new_tat), 'PX', ttl)
  end
end
local out = {ok}
for i = 1, #KEYS do out[i + 1] = string.format('%.17g', tats[i]) end
return out
"""

# KEYS[1]: counter. ARGV: cap (0 = none), n, ttl seconds. Returns {added, used}.
_COUNTER_LUA: Final = """
local cap = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if cap > 0 and used + n > cap then return {0, used} end
used = redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, used}
"""


class RedisBackend:
    """Buckets in Redis, shared by every process; one round trip per call.

    Keys checked together must share a Redis Cluster hash slot: callers put the tenant id in
    braces (``…:{ten_…}:…``).
    """

    def __init__(self, redis: Redis, *, timeout: float = 0.5) -> None:
        self._redis = redis
        self._timeout = timeout
        self._gcra = redis.register_script(_GCRA_LUA)
        self._counter = redis.register_script(_COUNTER_LUA)

    async def _call(self, coro: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await coro
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimiterUnavailable(type(exc).__name__) from exc

    async def acquire(
        self, buckets: Sequence[Bucket], now: float, cost: int
    ) -> tuple[bool, list[float]]:
        args: list[str] = [repr(now), str(cost)]
        for b in buckets:
            args += [repr(b.rate.interval), repr(b.rate.period)]
        reply = await self._call(self._gcra(keys=[b.key for b in buckets], args=args))
        return bool(int(reply[0])), [float(v) for v in reply[1:]]

    async def add(self, key: str, n: int, cap: int, now: float, ttl: int) -> QuotaDecision:
        reply = await self._call(self._counter(keys=[key], args=[cap, n, ttl]))
        return QuotaDecision(bool(int(reply[0])), int(reply[1]))

    async def counts(self, keys: Sequence[str], now: float) -> list[int]:
        if not keys:
            return []
        values = await self._call(self._redis.mget(list(keys)))
        return [int(v) if v is not None else 0 for v in values]


class Limiter:
    """Buckets and counters on a backend, timed by ``clock`` (unix seconds; injectable)."""

    #: At most one "backend unavailable" warning per this many seconds.
    WARN_EVERY: Final = 10.0

    def __init__(self, backend: LimiterBackend, *, clock: Clock = time.time) -> None:
        self.backend = backend
        self.clock = clock
        self._warned_at = -math.inf

    def _unavailable(self, operation: str, exc: LimiterUnavailable) -> None:
        RATE_LIMITER_ERRORS.labels(operation).inc()
        moment = time.monotonic()
        if moment - self._warned_at >= self.WARN_EVERY:
            self._warned_at = moment
            logger.warning("rate limiter backend unavailable (%s); letting requests through", exc)

    async def hit(self, buckets: Sequence[Bucket], cost: int = 1) -> list[RateDecision]:
        """Charge ``cost`` to every bucket, or to none if any of them is exhausted."""
        if not buckets:
            return []
        now = self.clock()
        try:
            charged, tats = await self.backend.acquire(buckets, now, cost)
        except LimiterUnavailable as exc:
            self._unavailable("hit", exc)
            return [RateDecision(True, b.rate, b.rate.limit, 0.0, 0.0) for b in buckets]
        return [decide(t, now, b.rate, cost, charged) for t, b in zip(tats, buckets, strict=True)]

    async def peek(self, buckets: Sequence[Bucket]) -> list[RateDecision] | None:
        """The buckets' state without charging them; None when the backend cannot answer."""
        if not buckets:
            return []
        now = self.clock()
        try:
            _, tats = await self.backend.acquire(buckets, now, 0)
        except LimiterUnavailable as exc:
            self._unavailable("peek", exc)
            return None
        return [decide(t, now, b.rate, 0, False) for t, b in zip(tats, buckets, strict=True)]

    async def add(self, key: str, n: int, cap: int, ttl: int) -> QuotaDecision:
        """Count ``n`` more against ``key`` unless that passes ``cap`` (0 = count only)."""
        try:
            return await self.backend.add(key, n, cap, self.clock(), ttl)
        except LimiterUnavailable as exc:
            self._unavailable("quota", exc)
            return QuotaDecision(True, 0)

    async def counts(self, keys: Sequence[str]) -> list[int] | None:
        try:
            return await self.backend.counts(keys, self.clock())
        except LimiterUnavailable as exc:
            self._unavailable("quota_read", exc)
            return None
