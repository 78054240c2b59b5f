"""Per-tenant API rate limits, webhook flood control and daily quotas.

Where each check runs:

    deps.get_tenant            → check_api_limit       every authenticated API request
    webhook ingest (receiver)  → check_webhook_flood   AFTER signature verification, so unsigned
                                                       junk never spends a sender's budget
    webhook ingest (receiver)  → check_quota           before the inbox insert (no I/O: this
                                                       process's last known count for today)
    inbox group commit         → count_usage           after the commit, new rows only, so a
                                                       duplicate never counts
    tool invocation            → take_quota            when a tool runs: checked like events,
                                                       counted locally, sent in batches
    GET /v1/limits             → usage

The limiter (Redis when the process has an arq pool, else in-process) and a short-lived cache of
tenant overrides live in ``runtime.extras`` (:func:`limits_state`), one per process. An override
set with the CLI reaches running processes within ``GATEWAY_LIMITS_CACHE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.errors import RateLimited, ValidationFailed
from gateway.kit.metrics import QUOTA_EXCEEDED, RATE_LIMITED, WEBHOOKS_REJECTED
from gateway.kit.queue import ArqQueue
from gateway.kit.runtime import Runtime
from gateway.limits import policy, repository
from gateway.limits.limiter import (
    InProcessBackend,
    Limiter,
    LimiterBackend,
    RateDecision,
    RedisBackend,
)
from gateway.limits.policy import EffectiveLimits, LimitName, QuotaKind
from gateway.limits.schemas import LimitsView, QuotaView, RateLimitView, Source
from gateway.models import TenantLimits
from gateway.models.base import utcnow

logger = logging.getLogger(__name__)

STATE_KEY: Final = "limits"


class QuotaExceeded(RateLimited):
    """A daily quota is used up; ``Retry-After`` points at the next UTC midnight."""

    code = "quota_exceeded"
    title = "Daily quota reached"


@dataclass(frozen=True)
class Refusal:
    """An API key refused until ``retry_at`` (limiter clock), remembered by this process."""

    retry_at: float
    reset_at: float
    limit: int
    window_seconds: int
    scope: str


class LimitsState:
    """One process's limiter, its cache of tenant limits and the API keys it refused moments
    ago (all timed by the limiter's clock)."""

    MAX_REFUSALS: Final = 10_000

    def __init__(self, limiter: Limiter, cache_seconds: float) -> None:
        self.limiter = limiter
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, EffectiveLimits]] = {}
        self._refusals: dict[str, Refusal] = {}
        #: (tenant id, kind) -> (quota key of the day, its shared count when last seen)
        self.quota_seen: dict[tuple[str, QuotaKind], tuple[str, int]] = {}
        #: (tenant id, kind) -> units used in this process and not yet added to the shared count
        self.quota_unsent: collections.Counter[tuple[str, QuotaKind]] = collections.Counter()
        self.quota_sender: asyncio.Task[None] | None = None

    def refusal(self, api_key_prefix: str) -> Refusal | None:
        refusal = self._refusals.get(api_key_prefix)
        if refusal is None:
            return None
        if refusal.retry_at <= self.limiter.clock():
            del self._refusals[api_key_prefix]
            return None
        return refusal

    def remember_refusal(self, api_key_prefix: str, refusal: Refusal) -> None:
        if len(self._refusals) >= self.MAX_REFUSALS:
            now = self.limiter.clock()
            self._refusals = {k: r for k, r in self._refusals.items() if r.retry_at > now}
        self._refusals[api_key_prefix] = refusal

    def cached(self, tenant_id: str) -> EffectiveLimits | None:
        entry = self._cache.get(tenant_id)
        if entry is None or entry[0] <= self.limiter.clock():
            return None
        return entry[1]

    def remember(self, tenant_id: str, limits: EffectiveLimits) -> None:
        self._cache[tenant_id] = (self.limiter.clock() + self.cache_seconds, limits)

    def forget(self, tenant_id: str) -> None:
        self._cache.pop(tenant_id, None)


def limits_state(runtime: Runtime) -> LimitsState:
    """This process's limiter state, created on first use (shared Redis when there is one)."""
    state: LimitsState | None = runtime.extras.get(STATE_KEY)
    if state is None:
        backend: LimiterBackend
        if isinstance(runtime.queue, ArqQueue):
            backend = RedisBackend(runtime.queue.redis)
        else:
            backend = InProcessBackend()
        state = LimitsState(Limiter(backend), runtime.settings.limits_cache_seconds)
        runtime.extras[STATE_KEY] = state
    return state


async def tenant_limits(
    runtime: Runtime, session: AsyncSession | None, tenant_id: str
) -> EffectiveLimits:
    """The limits that apply to a tenant (cached a few seconds per process)."""
    state = limits_state(runtime)
    limits = state.cached(tenant_id)
    if limits is not None:
        return limits
    if session is None:
        async with runtime.sessionmaker() as own:
            row = await repository.get_tenant_limits(own, tenant_id)
    else:
        row = await repository.get_tenant_limits(session, tenant_id)
    limits = policy.resolve(runtime.settings, row)
    state.remember(tenant_id, limits)
    return limits


@dataclass(frozen=True)
class RateLimitState:
    """The most constraining API bucket after a request (``limit`` None: unlimited)."""

    limit: int | None = None
    remaining: int | None = None
    reset_seconds: int | None = None
    window_seconds: int | None = None

    def headers(self) -> dict[str, str]:
        """IETF draft-ietf-httpapi-ratelimit-headers-06 fields (separate-fields variant)."""
        if self.limit is None:
            return {}
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit};w={self.window_seconds}",
        }


def _state(decision: RateDecision) -> RateLimitState:
    return RateLimitState(
        limit=decision.rate.limit,
        remaining=decision.remaining,
        reset_seconds=math.ceil(decision.reset_after - 1e-3),
        window_seconds=round(decision.rate.period),
    )


def _api_refused(
    limit: int, window: int, scope: str, retry_after: float, reset_after: float
) -> RateLimited:
    RATE_LIMITED.labels(scope).inc()
    whose = "this API key" if scope == "api_key" else "this tenant"
    state = RateLimitState(limit, 0, math.ceil(reset_after - 1e-3), window)
    return RateLimited(
        f"rate limit of {limit} requests per minute for {whose} reached",
        retry_after=retry_after,
        headers=state.headers(),
        extra={"limit_scope": scope},
    )


def refuse_if_recently_limited(runtime: Runtime, api_key_prefix: str) -> None:
    """Refuse at once (no database, no Redis) a key this process refused moments ago and
    that cannot fit before the ``Retry-After`` it was given.

    A client hammering past its limit then costs almost nothing, which keeps other tenants'
    latency flat. Buckets only refill with time, so nothing admissible is refused; a raised
    limit or a revoked key shows after that same ``Retry-After`` at most.
    """
    state = limits_state(runtime)
    refusal = state.refusal(api_key_prefix)
    if refusal is None:
        return
    now = state.limiter.clock()
    raise _api_refused(
        refusal.limit,
        refusal.window_seconds,
        refusal.scope,
        refusal.retry_at - now,
        refusal.reset_at - now,
    )


async def check_api_limit(
    runtime: Runtime, session: AsyncSession | None, tenant_id: str, api_key_prefix: str
) -> RateLimitState:
    """Charge one request to the API key's and the tenant's per-minute buckets.

    ``api_key_prefix`` is the key's public prefix (``ApiKey.prefix``), which names its bucket.
    Raises :class:`RateLimited` (429, ``Retry-After`` and the rate-limit headers) when either
    bucket is empty; a refused request charges neither.
    """
    limits = await tenant_limits(runtime, session, tenant_id)
    buckets, kinds = [], []
    if limits.api_key_rpm:
        buckets.append(policy.api_key_bucket(tenant_id, api_key_prefix, limits.api_key_rpm))
        kinds.append("api_key")
    if limits.api_rpm:
        buckets.append(policy.tenant_api_bucket(tenant_id, limits.api_rpm))
        kinds.append("api_tenant")
    if not buckets:
        return RateLimitState()
    state = limits_state(runtime)
    decisions = await state.limiter.hit(buckets)
    if decisions[0].allowed:
        tightest = min(decisions, key=lambda d: (d.remaining, d.rate.limit))
        return _state(tightest)
    index = max(range(len(decisions)), key=lambda i: decisions[i].retry_after)
    refused = decisions[index]
    window = round(refused.rate.period)
    now = state.limiter.clock()
    state.remember_refusal(
        api_key_prefix,
        Refusal(
            retry_at=now + refused.retry_after,
            reset_at=now + refused.reset_after,
            limit=refused.rate.limit,
            window_seconds=window,
            scope=kinds[index],
        ),
    )
    raise _api_refused(
        refused.rate.limit, window, kinds[index], refused.retry_after, refused.reset_after
    )


async def check_webhook_flood(
    runtime: Runtime, tenant_id: str, endpoint_id: str, *, session: AsyncSession | None = None
) -> None:
    """Count one verified request against its endpoint's per-second ceiling.

    Call it only after the signature verified: junk must not spend the sender's budget (count
    junk with :func:`record_rejected_webhook`). Raises :class:`RateLimited` (429 with
    ``Retry-After``, code ``webhook_rate_limited``): platforms retry, the database keeps up.
    """
    limits = await tenant_limits(runtime, session, tenant_id)
    if not limits.webhook_rps:
        return
    bucket = policy.webhook_bucket(tenant_id, endpoint_id, limits.webhook_rps)
    [decision] = await limits_state(runtime).limiter.hit([bucket])
    if decision.allowed:
        return
    RATE_LIMITED.labels("webhook_endpoint").inc()
    raise RateLimited(
        f"this endpoint accepts at most {limits.webhook_rps} requests per second; retry later",
        code="webhook_rate_limited",
        retry_after=decision.retry_after,
    )


def record_rejected_webhook(provider: str, reason: str) -> None:
    """Count a webhook refused before it was accepted (bad signature, unknown endpoint, …)."""
    WEBHOOKS_REJECTED.labels(provider, reason).inc()


async def consume_daily_quota(
    runtime: Runtime,
    session: AsyncSession | None,
    tenant_id: str,
    kind: QuotaKind,
    n: int = 1,
) -> None:
    """Count ``n`` stored events / tool invocations against today's (UTC) quota.

    Usage is counted even without a quota (``GET /v1/limits`` shows it). Over the quota nothing
    is counted and :class:`QuotaExceeded` (429, code ``quota_exceeded``, ``Retry-After`` until
    midnight UTC) is raised. Call it once the operation is certain to happen (e.g. the event is
    new, not a duplicate), inside the transaction that stores it.
    """
    limits = await tenant_limits(runtime, session, tenant_id)
    cap = limits.value(policy.QUOTA_FIELDS[kind])
    limiter = limits_state(runtime).limiter
    now = limiter.clock()
    until_reset = policy.day_end(now).timestamp() - now
    decision = await limiter.add(
        policy.quota_key(tenant_id, kind, now), n, cap, math.ceil(until_reset) + 3600
    )
    if decision.allowed:
        return
    raise _quota_refused(kind, cap, decision.used, now)


def _quota_refused(kind: QuotaKind, cap: int, used: int, now: float) -> QuotaExceeded:
    QUOTA_EXCEEDED.labels(kind).inc()
    field = policy.QUOTA_FIELDS[kind]
    resets_at = policy.day_end(now)
    return QuotaExceeded(
        f"daily quota of {cap} {kind} reached; it resets at {resets_at:%Y-%m-%dT%H:%M:%SZ}",
        retry_after=resets_at.timestamp() - now,
        extra={"quota": field, "limit": cap, "used": used, "resets_at": resets_at.isoformat()},
    )


#: How long this process gathers quota units before adding them to the shared counter.
QUOTA_SEND_INTERVAL: Final = 0.05


async def check_quota(runtime: Runtime, tenant_id: str, kind: QuotaKind) -> None:
    """Refuse once the tenant's daily quota of ``kind`` is used up, with no round trip: the
    count is the shared one this process last saw (:func:`count_usage`) plus its own units not
    sent yet. Replicas can overshoot the cap by what they use between two sends (one batch or
    ``QUOTA_SEND_INTERVAL``); nothing already done is undone to make up for it.
    """
    limits = await tenant_limits(runtime, None, tenant_id)
    cap = limits.value(policy.QUOTA_FIELDS[kind])
    if not cap:
        return
    state = limits_state(runtime)
    now = state.limiter.clock()
    key = policy.quota_key(tenant_id, kind, now)
    seen_key, seen = state.quota_seen.get((tenant_id, kind), (key, 0))
    used = (seen if seen_key == key else 0) + state.quota_unsent[(tenant_id, kind)]
    if used >= cap:
        raise _quota_refused(kind, cap, used, now)


async def count_usage(runtime: Runtime, kind: QuotaKind, used: Mapping[str, int]) -> None:
    """Add units (tenant id -> count) to today's shared usage and remember the new totals."""
    state = limits_state(runtime)
    limiter = state.limiter
    for tenant_id, n in used.items():
        now = limiter.clock()
        key = policy.quota_key(tenant_id, kind, now)
        ttl = math.ceil(policy.day_end(now).timestamp() - now) + 3600
        decision = await limiter.add(key, n, 0, ttl)
        if decision.used:  # 0: the backend could not answer; keep what we knew
            state.quota_seen[(tenant_id, kind)] = (key, decision.used)


async def take_quota(runtime: Runtime, tenant_id: str, kind: QuotaKind) -> None:
    """:func:`check_quota`, then count one unit: locally at once, in the shared counter with
    the other units of the next ``QUOTA_SEND_INTERVAL`` (one round trip per tenant then, not
    one per call)."""
    await check_quota(runtime, tenant_id, kind)
    state = limits_state(runtime)
    state.quota_unsent[(tenant_id, kind)] += 1
    if state.quota_sender is None or state.quota_sender.done():
        state.quota_sender = asyncio.get_running_loop().create_task(_send_quota_units(runtime))


async def _send_quota_units(runtime: Runtime) -> None:
    state = limits_state(runtime)
    while state.quota_unsent:
        await asyncio.sleep(QUOTA_SEND_INTERVAL)
        unsent, state.quota_unsent = state.quota_unsent, collections.Counter()
        by_kind: dict[QuotaKind, dict[str, int]] = {}
        for (tenant_id, kind), n in unsent.items():
            by_kind.setdefault(kind, {})[tenant_id] = n
        for kind, used in by_kind.items():
            try:
                await count_usage(runtime, kind, used)
            except Exception:  # never lose the process's own count over a send
                logger.exception("sending %s quota usage failed", kind)
                for tenant_id, n in used.items():
                    state.quota_unsent[(tenant_id, kind)] += n
                return


async def flush_quota_units(runtime: Runtime) -> None:
    """Send what this process counted but has not sent yet (shutdown, tests, reads)."""
    state = limits_state(runtime)
    if state.quota_sender is not None and not state.quota_sender.done():
        await state.quota_sender


def _source(limits: EffectiveLimits, name: LimitName) -> Source:
    return "tenant" if name in limits.overridden else "default"


def _rate_view(
    limits: EffectiveLimits, name: LimitName, window: int, decision: RateDecision | None
) -> RateLimitView:
    limit = limits.value(name) or None
    view = RateLimitView(limit=limit, window_seconds=window, source=_source(limits, name))
    if limit is not None and decision is not None:
        state = _state(decision)
        view.remaining, view.reset_seconds = state.remaining, state.reset_seconds
    return view


async def usage(
    runtime: Runtime,
    session: AsyncSession | None,
    tenant_id: str,
    *,
    api_key_prefix: str | None = None,
) -> LimitsView:
    """The tenant's limits and current usage (the calling key's bucket when given)."""
    await flush_quota_units(runtime)  # this process's own calls show at once
    limits = await tenant_limits(runtime, session, tenant_id)
    limiter = limits_state(runtime).limiter
    now = limiter.clock()
    buckets = []
    if limits.api_rpm:
        buckets.append(("api_rpm", policy.tenant_api_bucket(tenant_id, limits.api_rpm)))
    if limits.api_key_rpm and api_key_prefix:
        bucket = policy.api_key_bucket(tenant_id, api_key_prefix, limits.api_key_rpm)
        buckets.append(("api_key_rpm", bucket))
    peeked = await limiter.peek([b for _, b in buckets])
    found = dict(zip([n for n, _ in buckets], peeked or [], strict=False))
    kinds: tuple[QuotaKind, ...] = ("events", "invocations")
    counts = await limiter.counts([policy.quota_key(tenant_id, k, now) for k in kinds])
    resets_at = policy.day_end(now)
    quotas = {}
    for i, kind in enumerate(kinds):
        field = policy.QUOTA_FIELDS[kind]
        cap = limits.value(field) or None
        used = counts[i] if counts is not None else None
        quotas[field] = QuotaView(
            limit=cap,
            used=used,
            remaining=max(0, cap - used) if cap is not None and used is not None else None,
            resets_at=resets_at,
            source=_source(limits, field),
        )
    return LimitsView(
        tenant_id=tenant_id,
        api=_rate_view(limits, "api_rpm", policy.API_WINDOW_SECONDS, found.get("api_rpm")),
        api_key=_rate_view(
            limits, "api_key_rpm", policy.API_WINDOW_SECONDS, found.get("api_key_rpm")
        ),
        webhook_endpoint=_rate_view(limits, "webhook_rps", policy.WEBHOOK_WINDOW_SECONDS, None),
        events_per_day=quotas["events_per_day"],
        invocations_per_day=quotas["invocations_per_day"],
    )


async def set_tenant_limits(
    session: AsyncSession, tenant_id: str, changes: Mapping[LimitName, int | None]
) -> TenantLimits:
    """Apply overrides (None = back to the default, 0 = unlimited) and flush."""
    bad = [name for name, value in changes.items() if value is not None and value < 0]
    if bad:
        raise ValidationFailed(f"limits cannot be negative: {', '.join(bad)}")
    row = await repository.get_or_create_tenant_limits(session, tenant_id)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await session.flush()
    return row
