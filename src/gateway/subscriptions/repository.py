"""Queries for subscriptions, deliveries and attempts. Every tenant-facing query filters by
tenant. The delivery engine's hot path (bottom) uses Core statements on a connection, each
covering a whole batch of deliveries (see ``store``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import col, select

from gateway.kit.pagination import PageParams, apply_page
from gateway.models import Delivery, DeliveryAttempt, Event, Subscription, WebhookEndpoint
from gateway.models.base import UTCDateTime


def _id_column(model: type[Subscription] | type[Delivery]) -> InstrumentedAttribute[str]:
    return cast(InstrumentedAttribute[str], model.id)


# --- subscriptions ----------------------------------------------------------------------------


async def get_subscription(
    session: AsyncSession, tenant_id: str, subscription_id: str
) -> Subscription | None:
    result = await session.execute(
        select(Subscription).where(
            col(Subscription.tenant_id) == tenant_id, col(Subscription.id) == subscription_id
        )
    )
    return result.scalar_one_or_none()


async def list_subscriptions(
    session: AsyncSession, tenant_id: str, params: PageParams
) -> list[Subscription]:
    query = select(Subscription).where(col(Subscription.tenant_id) == tenant_id)
    result = await session.execute(apply_page(query, _id_column(Subscription), params))
    return list(result.scalars())


async def enabled_subscriptions(session: AsyncSession, tenant_id: str) -> list[Subscription]:
    result = await session.execute(
        select(Subscription).where(
            col(Subscription.tenant_id) == tenant_id, col(Subscription.enabled).is_(True)
        )
    )
    return list(result.scalars())


async def unknown_endpoint_ids(
    session: AsyncSession, tenant_id: str, endpoint_ids: Sequence[str]
) -> list[str]:
    """The ids in ``endpoint_ids`` that are not webhook endpoints of this tenant."""
    if not endpoint_ids:
        return []
    result = await session.execute(
        select(WebhookEndpoint.id).where(
            col(WebhookEndpoint.tenant_id) == tenant_id, col(WebhookEndpoint.id).in_(endpoint_ids)
        )
    )
    known = set(result.scalars())
    return [e for e in endpoint_ids if e not in known]


async def delete_subscription(session: AsyncSession, subscription: Subscription) -> None:
    """Delete the subscription with its deliveries and attempts (explicitly: no reliance on
    the database honouring ON DELETE CASCADE)."""
    await session.execute(
        sa.delete(DeliveryAttempt).where(col(DeliveryAttempt.subscription_id) == subscription.id)
    )
    await session.execute(
        sa.delete(Delivery).where(col(Delivery.subscription_id) == subscription.id)
    )
    await session.delete(subscription)


# --- deliveries -------------------------------------------------------------------------------


async def get_delivery(session: AsyncSession, tenant_id: str, delivery_id: str) -> Delivery | None:
    result = await session.execute(
        select(Delivery).where(
            col(Delivery.tenant_id) == tenant_id, col(Delivery.id) == delivery_id
        )
    )
    return result.scalar_one_or_none()


async def list_deliveries(
    session: AsyncSession, subscription_id: str, status: str | None, params: PageParams
) -> list[Delivery]:
    query = select(Delivery).where(col(Delivery.subscription_id) == subscription_id)
    if status is not None:
        query = query.where(col(Delivery.status) == status)
    result = await session.execute(apply_page(query, _id_column(Delivery), params))
    return list(result.scalars())


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> dict[str, list[DeliveryAttempt]]:
    grouped: dict[str, list[DeliveryAttempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return grouped
    result = await session.execute(
        select(DeliveryAttempt)
        .where(col(DeliveryAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(DeliveryAttempt.delivery_id), col(DeliveryAttempt.number))
    )
    for attempt in result.scalars():
        grouped[attempt.delivery_id].append(attempt)
    return grouped


async def deliveries_for_events(
    session: AsyncSession, subscription_id: str, event_ids: Sequence[str]
) -> dict[str, Delivery]:
    if not event_ids:
        return {}
    result = await session.execute(
        select(Delivery).where(
            col(Delivery.subscription_id) == subscription_id, col(Delivery.event_id).in_(event_ids)
        )
    )
    return {d.event_id: d for d in result.scalars()}


async def subscriptions_with_delivery(session: AsyncSession, event_id: str) -> set[str]:
    result = await session.execute(
        select(Delivery.subscription_id).where(col(Delivery.event_id) == event_id)
    )
    return set(result.scalars())


async def events_since(
    session: AsyncSession,
    tenant_id: str,
    since: datetime,
    until: datetime | None,
    limit: int,
) -> list[Event]:
    """Unified (typed) events of the tenant received in ``[since, until)``, oldest first."""
    query = select(Event).where(
        col(Event.tenant_id) == tenant_id,
        col(Event.type).is_not(None),
        col(Event.received_at) >= since,
    )
    if until is not None:
        query = query.where(col(Event.received_at) < until)
    result = await session.execute(
        query.order_by(col(Event.received_at), col(Event.id)).limit(limit)
    )
    return list(result.scalars())


async def due_deliveries(
    session: AsyncSession, due_before: datetime, limit: int
) -> list[tuple[str, int]]:
    """``(delivery id, job_seq)`` of pending deliveries whose attempt is overdue."""
    result = await session.execute(
        sa.select(col(Delivery.id), col(Delivery.job_seq))
        .where(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= due_before)
        .order_by(col(Delivery.next_attempt_at))
        .limit(limit)
    )
    return [(row[0], row[1]) for row in result.all()]


# --- delivery engine (hot path) ---------------------------------------------------------------

_D = Delivery.__table__  # type: ignore[attr-defined]
_S = Subscription.__table__  # type: ignore[attr-defined]
_E = Event.__table__  # type: ignore[attr-defined]
_A = DeliveryAttempt.__table__  # type: ignore[attr-defined]

_DELIVERY_CONTEXT = (
    sa.select(
        _D.c.id,
        _D.c.tenant_id,
        _D.c.status,
        _D.c.attempts,
        _D.c.max_attempts,
        _D.c.job_seq,
        _S.c.id.label("subscription_id"),
        _S.c.url,
        _S.c.enabled,
        _S.c.secret_enc,
        _S.c.previous_secret_enc,
        _S.c.previous_secret_expires_at,
        _E.c.id.label("event_id"),
        _E.c.tenant_id.label("event_tenant_id"),
        _E.c.type,
        _E.c.provider,
        _E.c.endpoint_id,
        _E.c.connection_id,
        _E.c.provider_event_id,
        _E.c.occurred_at,
        _E.c.received_at,
        _E.c.data,
        _E.c.payload_enc,
    )
    .select_from(_D.join(_S, _S.c.id == _D.c.subscription_id).join(_E, _E.c.id == _D.c.event_id))
    .where(_D.c.id.in_(sa.bindparam("ids", expanding=True)))
)


_APPLY_OUTCOME = (
    sa.update(_D)
    .where(
        _D.c.id == sa.bindparam("b_id"),
        _D.c.job_seq == sa.bindparam("b_seq"),
        _D.c.status == "pending",
    )
    .values(
        status=sa.bindparam("v_status"),
        attempts=sa.bindparam("v_attempts"),
        job_seq=sa.bindparam("b_seq", type_=sa.Integer()) + 1,
        next_attempt_at=sa.bindparam("v_next_attempt_at", type_=UTCDateTime()),
        completed_at=sa.bindparam("v_completed_at", type_=UTCDateTime()),
        last_status_code=sa.bindparam("v_last_status_code"),
        last_error=sa.bindparam("v_last_error"),
        updated_at=sa.bindparam("v_updated_at", type_=UTCDateTime()),
    )
)
OUTCOME_FIELDS = (
    "status",
    "attempts",
    "next_attempt_at",
    "completed_at",
    "last_status_code",
    "last_error",
    "updated_at",
)


async def delivery_contexts(conn: AsyncConnection, ids: Sequence[str]) -> list[RowMapping]:
    """Everything an attempt needs (delivery, subscription, event) for many deliveries."""
    if not ids:
        return []
    result = await conn.execute(_DELIVERY_CONTEXT, {"ids": list(ids)})
    return list(result.mappings().all())


async def apply_outcomes(
    conn: AsyncConnection, items: Sequence[tuple[str, int, dict[str, Any]]]
) -> None:
    """Apply ``(delivery id, job_seq, values)`` where the delivery is still pending under that
    ``job_seq``; ``job_seq`` moves on by one, so the winner is visible afterwards."""
    if not items:
        return
    params = [
        {"b_id": delivery_id, "b_seq": seq, **{f"v_{k}": values[k] for k in OUTCOME_FIELDS}}
        for delivery_id, seq, values in items
    ]
    await conn.execute(_APPLY_OUTCOME, params)


async def delivery_states(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``{id: (job_seq, attempts)}`` of the deliveries that exist."""
    if not ids:
        return {}
    result = await conn.execute(
        sa.select(_D.c.id, _D.c.job_seq, _D.c.attempts).where(_D.c.id.in_(list(ids)))
    )
    return {row[0]: (row[1], row[2]) for row in result.all()}


async def insert_attempts(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(sa.insert(_A), list(rows))


async def disable_subscription_now(
    conn: AsyncConnection, subscription_id: str, reason: str, now: datetime
) -> None:
    await conn.execute(
        sa.update(_S)
        .where(_S.c.id == subscription_id)
        .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
    )


async def requeue_busy(
    session: AsyncSession, delivery_id: str, job_seq: int, next_attempt_at: datetime
) -> bool:
    """Hand the next attempt to job ``job_seq + 1`` without counting an attempt."""
    result = await session.execute(
        sa.update(_D)
        .where(_D.c.id == delivery_id, _D.c.job_seq == job_seq, _D.c.status == "pending")
        .values(job_seq=job_seq + 1, next_attempt_at=next_attempt_at, updated_at=next_attempt_at)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
