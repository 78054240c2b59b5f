"""Which limits apply to a tenant, and where their counters live.

Every number follows one rule: ``0`` means unlimited. A tenant's override (a ``tenant_limits``
column) wins when it is not NULL; otherwise the deployment default from settings applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

from gateway.kit.settings import Settings
from gateway.limits.limiter import Bucket, Rate
from gateway.models import TenantLimits

QuotaKind = Literal["events", "invocations"]
LimitName = Literal[
    "api_rpm", "api_key_rpm", "webhook_rps", "events_per_day", "invocations_per_day"
]
LIMIT_NAMES: Final[tuple[LimitName, ...]] = (
    "api_rpm",
    "api_key_rpm",
    "webhook_rps",
    "events_per_day",
    "invocations_per_day",
)
QUOTA_FIELDS: Final[dict[QuotaKind, LimitName]] = {
    "events": "events_per_day",
    "invocations": "invocations_per_day",
}
API_WINDOW_SECONDS: Final = 60
WEBHOOK_WINDOW_SECONDS: Final = 1
KEY_PREFIX: Final = "gateway:limits"


@dataclass(frozen=True)
class EffectiveLimits:
    """The numbers that apply to one tenant (0 = unlimited) and which of them it overrides."""

    api_rpm: int
    api_key_rpm: int
    webhook_rps: int
    events_per_day: int
    invocations_per_day: int
    overridden: frozenset[str] = frozenset()

    def value(self, name: LimitName) -> int:
        number: int = getattr(self, name)
        return number


def defaults(settings: Settings) -> dict[LimitName, int]:
    return {
        "api_rpm": settings.api_rate_limit_rpm,
        "api_key_rpm": settings.api_key_rate_limit_rpm,
        "webhook_rps": settings.webhook_rate_limit_rps,
        "events_per_day": settings.quota_events_per_day,
        "invocations_per_day": settings.quota_invocations_per_day,
    }


def resolve(settings: Settings, row: TenantLimits | None) -> EffectiveLimits:
    values = defaults(settings)
    overridden: set[str] = set()
    if row is not None:
        for name in LIMIT_NAMES:
            override: int | None = getattr(row, name)
            if override is not None:
                values[name] = override
                overridden.add(name)
    return EffectiveLimits(**values, overridden=frozenset(overridden))


# Keys of one tenant share a Redis Cluster hash slot ({tenant_id}), so the per-key and
# per-tenant buckets can be checked in one script.
def tenant_api_bucket(tenant_id: str, rpm: int) -> Bucket:
    return Bucket(f"{KEY_PREFIX}:{{{tenant_id}}}:api", Rate(rpm, API_WINDOW_SECONDS))


def api_key_bucket(tenant_id: str, key_prefix: str, rpm: int) -> Bucket:
    return Bucket(f"{KEY_PREFIX}:{{{tenant_id}}}:key:{key_prefix}", Rate(rpm, API_WINDOW_SECONDS))


def webhook_bucket(tenant_id: str, endpoint_id: str, rps: int) -> Bucket:
    return Bucket(
        f"{KEY_PREFIX}:{{{tenant_id}}}:webhook:{endpoint_id}", Rate(rps, WEBHOOK_WINDOW_SECONDS)
    )


def utc_day(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()


def day_end(now: float) -> datetime:
    """The next UTC midnight: when today's quotas reset."""
    start = datetime.combine(utc_day(now), datetime.min.time(), tzinfo=UTC)
    return start + timedelta(days=1)


def quota_key(tenant_id: str, kind: QuotaKind, now: float) -> str:
    return f"{KEY_PREFIX}:{{{tenant_id}}}:quota:{kind}:{utc_day(now):%Y%m%d}"
