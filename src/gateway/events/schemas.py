"""Shapes of the events API: the unified event (design.md "Unified event") plus its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from gateway.events.states import EventStatus


class EventSummary(BaseModel):
    """A unified event without its raw payload (list views)."""

    id: str
    type: str | None = Field(
        description="Unified type (`message.received`, …); null until processed"
    )
    provider: str
    endpoint_id: str | None
    connection_id: str | None
    provider_event_id: str = Field(description="The platform's event id (or a body digest)")
    raw_type: str | None = Field(description="The platform's own event type")
    occurred_at: datetime | None
    received_at: datetime
    data: dict[str, Any] | None = Field(
        description="conversation, sender, text, message_id, thread_id, mentions, …"
    )
    status: str = Field(description="pending | processing | processed | dead")
    attempts: int
    last_error: str | None = Field(description="Why the last processing attempt failed")
    processed_at: datetime | None


class EventOut(EventSummary):
    """A unified event with its raw payload (decrypted for its owning tenant only)."""

    raw: Any = Field(description="The verified provider payload, decrypted")


@dataclass(frozen=True)
class EventFilters:
    provider: str | None = None
    endpoint_id: str | None = None
    type: str | None = None
    status: EventStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
