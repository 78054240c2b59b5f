"""Per-connection outbound token buckets: a burst from one tenant must not get the whole app
rate-limited by a platform.

One bucket per connection (built-in platform tools, and custom tools that borrow a connection's
token): ``rate`` tokens per second up to ``burst``. Custom tools with their own API key are not
paced here: they call the tenant's own API, whose 429s the invoke loop still honours.

A call *reserves* a token and sleeps for the wait it was given, so concurrent callers queue in
order instead of polling; a reservation longer than ``max_wait`` is refused before anything is
sent. When the platform itself says "rate limited, retry after N s", ``penalize``
pushes the bucket's clock N s into the future, so every caller on that connection waits, not
only the one that was told.

Two stores, one algorithm (state: ``tokens`` and ``ts``, the time tokens last accrued):

- ``RedisBucketStore``: a Lua script, atomic across API replicas and workers, clocked by Redis
  ``TIME``; used whenever the process has Redis (production). A Redis failure fails *open*
  (logged): the platform's own 429s still protect us, a broken limiter must not stop every call.
- ``LocalBucketStore``: the same arithmetic in process memory (embedded mode, no Redis).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.kit.queue import ArqQueue
from gateway.kit.runtime import Runtime

logger = logging.getLogger(__name__)

KEY_PREFIX: Final = "gw:tool-rate:"
_EXTRAS_KEY: Final = "tools.outbound_limiter"
_MAX_LOCAL_BUCKETS: Final = 10_000

# KEYS[1] bucket; ARGV: rate (tokens/s), burst, max wait (ms), penalty (ms; > 0 = penalize).
# Returns the wait in ms for a granted reservation, or -(wait + 1) for a refused one.
_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local penalty = tonumber(ARGV[4])
local wait = 0
if penalty > 0 then
  if now + penalty > ts then
    ts = now + penalty
    tokens = math.min(tokens, 1)
  end
else
  wait = (ts - now)
  if tokens < 1 then wait = wait + (1 - tokens) / rate end
  if wait > tonumber(ARGV[3]) then return -(math.ceil(wait) + 1) end
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + (ts - now) + 1000)
return math.ceil(wait)
"""


class OutboundRateLimited(Exception):
    """The bucket would make the caller wait longer than allowed; nothing was sent."""

    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        super().__init__(f"outbound rate limit: next slot in {wait_seconds:.2f}s")


class BucketStore(Protocol):
    async def reserve(self, key: str, max_wait: float) -> float:
        """Reserve one token: the seconds to wait before using it; if that exceeds ``max_wait``
        nothing is reserved and the *negated* wait is returned."""
        ...

    async def penalize(self, key: str, seconds: float) -> None:
        """The platform said "retry after ``seconds``": nobody on this bucket sends before."""
        ...


@dataclass(frozen=True)
class BucketConfig:
    rate: float  # tokens per second
    burst: int


class RedisBucketStore:
    def __init__(self, redis: Redis, config: BucketConfig) -> None:
        self._config = config
        self._script = redis.register_script(_LUA)

    async def _run(self, key: str, max_wait: float, penalty: float) -> int | None:
        args = [self._config.rate, self._config.burst, int(max_wait * 1000), int(penalty * 1000)]
        try:
            result: Any = await self._script(keys=[KEY_PREFIX + key], args=args)
        except (RedisError, OSError) as exc:
            logger.warning("tool rate limiter unavailable, not limiting: %s", type(exc).__name__)
            return None
        return int(result)

    async def reserve(self, key: str, max_wait: float) -> float:
        result = await self._run(key, max_wait, 0)
        if result is None:
            return 0.0
        return result / 1000 if result >= 0 else (result + 1) / 1000

    async def penalize(self, key: str, seconds: float) -> None:
        if seconds > 0:
            await self._run(key, 0, max(seconds, 0.001))


@dataclass
class _Bucket:
    tokens: float
    ts: float


class LocalBucketStore:
    def __init__(self, config: BucketConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_LOCAL_BUCKETS:
                self._evict_idle(now)
            bucket = self._buckets[key] = _Bucket(float(self._config.burst), now)
        elif now > bucket.ts:
            bucket.tokens = min(
                self._config.burst, bucket.tokens + (now - bucket.ts) * self._config.rate
            )
            bucket.ts = now
        return bucket

    def _evict_idle(self, now: float) -> None:
        refill = self._config.burst / self._config.rate
        idle = [k for k, b in self._buckets.items() if now - b.ts > refill]
        for key in idle or list(self._buckets)[: _MAX_LOCAL_BUCKETS // 2]:
            del self._buckets[key]

    async def reserve(self, key: str, max_wait: float) -> float:
        now = self._clock()
        bucket = self._bucket(key, now)
        wait = bucket.ts - now
        if bucket.tokens < 1:
            wait += (1 - bucket.tokens) / self._config.rate
        if wait > max_wait:
            return -wait
        bucket.tokens -= 1
        return max(wait, 0.0)

    async def penalize(self, key: str, seconds: float) -> None:
        now = self._clock()
        bucket = self._bucket(key, now)
        if now + seconds > bucket.ts:
            bucket.ts = now + seconds
            bucket.tokens = min(bucket.tokens, 1.0)


class OutboundLimiter:
    """What the invoke loop uses: reserve-and-sleep, and penalize."""

    def __init__(self, store: BucketStore) -> None:
        self.store = store

    async def acquire(
        self,
        key: str,
        max_wait: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> float:
        """Wait for a token; returns the seconds waited. Raises ``OutboundRateLimited``."""
        wait = await self.store.reserve(key, max_wait)
        if wait < 0:
            raise OutboundRateLimited(-wait)
        if wait > 0:
            await sleep(wait)
        return wait

    async def penalize(self, key: str, seconds: float) -> None:
        await self.store.penalize(key, seconds)


def limiter_for(runtime: Runtime) -> OutboundLimiter:
    """The process's limiter (kept in ``runtime.extras``): Redis-backed when the runtime has
    Redis, in-process otherwise."""
    limiter = runtime.extras.get(_EXTRAS_KEY)
    if limiter is None:
        config = BucketConfig(
            rate=runtime.settings.tool_rate_per_second, burst=runtime.settings.tool_rate_burst
        )
        store: BucketStore = LocalBucketStore(config)
        if isinstance(runtime.queue, ArqQueue):
            # The queue's connection pool: one Redis client per process.
            store = RedisBucketStore(runtime.queue.redis, config)
        limiter = runtime.extras[_EXTRAS_KEY] = OutboundLimiter(store)
    assert isinstance(limiter, OutboundLimiter)
    return limiter
