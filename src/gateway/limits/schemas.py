"""What ``GET /v1/limits`` returns: the calling tenant's limits and how much of them is used."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["default", "tenant"]


class RateLimitView(BaseModel):
    limit: int | None = Field(description="Requests allowed per window; null = unlimited")
    window_seconds: int
    source: Source = Field(description="`tenant`: an override set for this tenant")
    remaining: int | None = Field(
        default=None, description="Requests left right now (null: unlimited or not tracked here)"
    )
    reset_seconds: int | None = Field(
        default=None, description="Seconds until the full limit is available again"
    )


class QuotaView(BaseModel):
    limit: int | None = Field(description="Allowed per UTC day; null = unlimited")
    used: int | None = Field(description="Used today (null when the counter cannot be read)")
    remaining: int | None
    resets_at: datetime = Field(description="Next UTC midnight")
    source: Source


class LimitsView(BaseModel):
    tenant_id: str
    api: RateLimitView = Field(description="API requests per minute, all keys of the tenant")
    api_key: RateLimitView = Field(description="API requests per minute for each key")
    webhook_endpoint: RateLimitView = Field(
        description="Verified webhook requests per second, for each receiving endpoint"
    )
    events_per_day: QuotaView = Field(description="Stored webhook events per UTC day")
    invocations_per_day: QuotaView = Field(description="Tool invocations per UTC day")
