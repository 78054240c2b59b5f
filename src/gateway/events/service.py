"""Events API side: tenant-scoped reads with the decrypted payload, and replay."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.events import repository
from gateway.events.schemas import EventFilters, EventOut, EventSummary
from gateway.events.states import PENDING_GRACE_SECONDS, PROCESS_EVENT, EventStatus
from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.db import PendingJob, enqueue_after_commit
from gateway.kit.errors import DecryptionFailed, NotFound
from gateway.kit.pagination import PageParams
from gateway.models import Event
from gateway.models.base import utcnow
from gateway.providers.registry import get_provider

PAYLOAD_COLUMN = "payload_enc"


def payload_context(event: Event) -> FieldContext:
    return FieldContext("events", PAYLOAD_COLUMN, event.id, event.tenant_id)


def decrypt_payload(keyring: Keyring, event: Event) -> Any:
    """The stored provider payload (``DecryptionFailed`` / ``ValueError`` propagate)."""
    return json.loads(keyring.decrypt(event.payload_enc, payload_context(event)))


def summary(event: Event) -> EventSummary:
    return EventSummary(
        id=event.id,
        type=event.type,
        provider=event.provider,
        endpoint_id=event.endpoint_id,
        connection_id=event.connection_id,
        provider_event_id=event.provider_event_id,
        raw_type=event.raw_type,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
        data=event.data,
        status=event.status,
        attempts=event.attempts,
        last_error=event.last_error,
        processed_at=event.processed_at,
    )


def detail(keyring: Keyring, event: Event) -> EventOut:
    """The event with ``raw``; a payload that cannot be decrypted shows as null, never a 500."""
    try:
        raw = decrypt_payload(keyring, event)
    except (DecryptionFailed, ValueError):
        raw = None
    return EventOut(**summary(event).model_dump(), raw=raw)


def canonical_filters(filters: EventFilters) -> EventFilters:
    """``feishu`` filters the same rows as ``lark`` (rows carry the canonical id)."""
    if filters.provider is None:
        return filters
    provider = get_provider(filters.provider)
    if provider is None or provider.id == filters.provider:
        return filters
    return EventFilters(**{**filters.__dict__, "provider": provider.id})


async def list_events(
    session: AsyncSession, tenant_id: str, filters: EventFilters, params: PageParams
) -> list[Event]:
    return await repository.list_tenant_events(
        session, tenant_id, canonical_filters(filters), params
    )


async def get_event(session: AsyncSession, tenant_id: str, event_id: str) -> Event:
    event = await repository.get_tenant_event(session, tenant_id, event_id)
    if event is None:
        raise NotFound("event not found", code="event_not_found")
    return event


async def replay_event(session: AsyncSession, event: Event) -> Event:
    """Run processing and fan-out again: back to ``pending`` with a fresh attempt budget.

    A job still working on the previous run loses its claim (its commit is refused), so the
    replay is processed exactly once more. The job id is unique per replay because arq refuses
    a job id whose previous result it still keeps.
    """
    now = utcnow()
    event.status = EventStatus.PENDING.value
    event.attempts = 0
    event.last_error = None
    event.processed_at = None
    event.lease_until = now + timedelta(seconds=PENDING_GRACE_SECONDS)
    await session.flush()
    job_id = f"{event.id}:replay:{time.time_ns() // 1_000_000}"
    enqueue_after_commit(session, PendingJob(PROCESS_EVENT, (event.id,), job_id=job_id))
    return event
