"""``/v1/events``: the tenant's unified events, their processing status, and replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from gateway.deps import KeyringDep, SessionDep, TenantDep
from gateway.events import service
from gateway.events.schemas import EventFilters, EventOut, EventSummary
from gateway.events.states import EventStatus
from gateway.kit.datetimes import IsoDateTime
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.problems import problem_responses
from gateway.models import Event

router = APIRouter(prefix="/v1/events", tags=["events"], responses=problem_responses(401, 422))


def event_filters(
    provider: Annotated[
        str | None, Query(max_length=64, description="Provider id (`feishu` = `lark`)")
    ] = None,
    endpoint_id: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[
        str | None, Query(max_length=64, description="Unified type, e.g. `message.received`")
    ] = None,
    status: Annotated[EventStatus | None, Query()] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="Received at or after (ISO 8601)")
    ] = None,
    until: Annotated[IsoDateTime | None, Query(description="Received before (ISO 8601)")] = None,
) -> EventFilters:
    return EventFilters(provider, endpoint_id, type, status, since, until)


async def tenant_event(
    event_id: Annotated[str, Path(max_length=64)], tenant: TenantDep, session: SessionDep
) -> Event:
    """The event of this tenant, else 404 (also for another tenant's id)."""
    return await service.get_event(session, tenant.id, event_id)


TenantEventDep = Annotated[Event, Depends(tenant_event)]
FiltersDep = Annotated[EventFilters, Depends(event_filters)]
PageDep = Annotated[PageParams, Depends(page_params)]


@router.get("", operation_id="list_events", response_model=Page[EventSummary])
async def list_events(
    tenant: TenantDep, session: SessionDep, filters: FiltersDep, page: PageDep
) -> dict[str, Any]:
    """Your events, newest first, filterable by provider, endpoint, type, status and time of
    receipt (cursor pagination). `raw` payloads are only in the single-event view."""
    rows = await service.list_events(session, tenant.id, filters, page)
    return make_page(rows, page, service.summary)


@router.get(
    "/{event_id}",
    operation_id="get_event",
    response_model=EventOut,
    responses=problem_responses(404),
)
async def get_event(event: TenantEventDep, keyring: KeyringDep) -> EventOut:
    """One unified event with its decrypted `raw` payload, status, attempts and last error."""
    return service.detail(keyring, event)


@router.post(
    "/{event_id}/replay",
    operation_id="replay_event",
    response_model=EventSummary,
    status_code=202,
    responses=problem_responses(404),
)
async def replay_event(event: TenantEventDep, session: SessionDep) -> EventSummary:
    """Process the event again (normalisation and fan-out to subscriptions), e.g. after a
    dead-letter or a new subscription. Answers 202 once the replay is queued."""
    return service.summary(await service.replay_event(session, event))
