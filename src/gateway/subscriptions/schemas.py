"""Request and response bodies of the subscriptions API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from gateway.kit.datetimes import IsoDateTime
from gateway.providers.events import is_known_pattern

DeliveryStatus = Literal["pending", "succeeded", "dead"]
AttemptOutcome = Literal["succeeded", "failed"]


def _known_patterns(patterns: list[str]) -> list[str]:
    unknown = [p for p in patterns if not is_known_pattern(p)]
    if unknown:
        raise ValueError(
            f"unknown event type pattern(s): {', '.join(unknown)} "
            "(use a type such as message.received, a pattern such as message.* or *)"
        )
    return list(dict.fromkeys(patterns))


def _dedupe(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(dict.fromkeys(values))


Pattern = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ProviderId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
ResourceId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
EventTypes = Annotated[
    list[Pattern], Field(min_length=1, max_length=50), AfterValidator(_known_patterns)
]
Providers = Annotated[list[ProviderId] | None, Field(max_length=50), AfterValidator(_dedupe)]
EndpointIds = Annotated[list[ResourceId] | None, Field(max_length=100), AfterValidator(_dedupe)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, strip_whitespace=True)]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="Where events are POSTed (http/https; must pass the SSRF guard)")
    event_types: EventTypes = Field(
        description="Event types or patterns: `message.received`, `message.*`, `*.received`, `*`"
    )
    providers: Providers = Field(
        default=None, description="Only events from these providers (default: any)"
    )
    endpoint_ids: EndpointIds = Field(
        default=None, description="Only events received on these webhook endpoints (default: any)"
    )
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True


class SubscriptionUpdate(BaseModel):
    """Fields to change; absent fields stay as they are, ``null`` clears a filter."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: EventTypes | None = None
    providers: Providers = None
    endpoint_ids: EndpointIds = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="Enable or disable; enabling clears `disabled_reason`"
    )


class SubscriptionOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    providers: list[str] | None
    endpoint_ids: list[str] | None
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why the subscription is disabled (e.g. the URL answered 410 Gone)"
    )
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the previous secret still signs alongside the current one"
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The `whsec_…` signing secret. Shown only in this response (and on rotation)."
    )


class SecretRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 3600,
        description="How long the old secret keeps signing too (default: the server setting)",
    )


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new `whsec_…` secret. Shown only in this response.")
    previous_secret_expires_at: datetime | None


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: IsoDateTime = Field(description="Events received at or after this time")
    until: IsoDateTime | None = Field(default=None, description="…and before this time")
    limit: int = Field(default=1000, ge=1, le=10_000, description="At most this many events")


class ReplayResult(BaseModel):
    replayed: int = Field(description="Events scheduled for (re)delivery")
    event_ids: list[str]
    truncated: bool = Field(description="More events matched than `limit`; replay the rest next")


class AttemptOut(BaseModel):
    number: int
    outcome: AttemptOutcome
    status_code: int | None
    error_code: str | None = Field(description="timeout, connection_error, destination_blocked, …")
    duration_ms: float
    response_snippet: str | None = Field(description="Start of the response body")
    attempted_at: datetime
    next_attempt_at: datetime | None = Field(description="When the next attempt was scheduled")


class DeliveryOut(BaseModel):
    id: str
    subscription_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    attempts: list[AttemptOut]
