"""Subscription lifecycle, secret rotation, replay and manual retry.

The signing secret is generated here, returned once (create, rotate) and otherwise only exists
as a keyring ciphertext bound to its row and column. Subscriber URLs are vetted against the
egress policy when saved (and again by the HTTP client at every connect, since DNS may change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.db import enqueue_after_commit
from gateway.kit.errors import Conflict, ValidationFailed
from gateway.kit.ids import new_id
from gateway.kit.pagination import PageParams
from gateway.kit.ssrf import EgressPolicy, vet_url
from gateway.models import Delivery, DeliveryAttempt, Subscription
from gateway.subscriptions import repository
from gateway.subscriptions.fanout import new_delivery, subscription_matches
from gateway.subscriptions.policy import (
    DeliveryPolicy,
    deliver_job,
    deliver_job_id,
    deliver_many_jobs,
)
from gateway.subscriptions.schemas import (
    ReplayRequest,
    ReplayResult,
    SubscriptionCreate,
    SubscriptionUpdate,
)
from gateway.subscriptions.signing import generate_secret

MANUAL_DISABLE_REASON = "Disabled through the API"


@dataclass(frozen=True)
class IssuedSecret:
    subscription: Subscription
    secret: str

    def __repr__(self) -> str:
        return f"IssuedSecret(subscription_id={self.subscription.id!r}, secret=***)"


def _where(subscription_id: str, tenant_id: str, column: str = "secret_enc") -> FieldContext:
    return FieldContext("subscriptions", column, subscription_id, tenant_id)


async def _check_endpoints(
    session: AsyncSession, tenant_id: str, endpoint_ids: list[str] | None
) -> None:
    unknown = await repository.unknown_endpoint_ids(session, tenant_id, endpoint_ids or [])
    if unknown:
        raise ValidationFailed(
            f"unknown webhook endpoint id(s): {', '.join(unknown)}",
            code="unknown_endpoint",
            extra={"endpoint_ids": unknown},
        )


async def create_subscription(
    session: AsyncSession,
    tenant_id: str,
    body: SubscriptionCreate,
    *,
    keyring: Keyring,
    egress: EgressPolicy,
    now: datetime,
) -> IssuedSecret:
    vet_url(body.url, egress)
    await _check_endpoints(session, tenant_id, body.endpoint_ids)
    subscription_id = new_id("sub")
    secret = generate_secret()
    row = Subscription(
        id=subscription_id,
        tenant_id=tenant_id,
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        providers=body.providers,
        endpoint_ids=body.endpoint_ids,
        enabled=body.enabled,
        disabled_reason=None if body.enabled else MANUAL_DISABLE_REASON,
        disabled_at=None if body.enabled else now,
        secret_enc=keyring.encrypt(secret, _where(subscription_id, tenant_id)),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return IssuedSecret(row, secret)


async def update_subscription(
    session: AsyncSession,
    subscription: Subscription,
    body: SubscriptionUpdate,
    *,
    egress: EgressPolicy,
    now: datetime,
) -> Subscription:
    """Apply the fields present in ``body`` (absent or null url/event_types/enabled: unchanged;
    null providers/endpoint_ids/description: cleared)."""
    given = body.model_fields_set
    if body.url is not None:
        vet_url(body.url, egress)
        subscription.url = body.url
    if body.event_types is not None:
        subscription.event_types = body.event_types
    if "providers" in given:
        subscription.providers = body.providers
    if "endpoint_ids" in given:
        await _check_endpoints(session, subscription.tenant_id, body.endpoint_ids)
        subscription.endpoint_ids = body.endpoint_ids
    if "description" in given:
        subscription.description = body.description
    if body.enabled is not None and body.enabled != subscription.enabled:
        subscription.enabled = body.enabled
        subscription.disabled_reason = None if body.enabled else MANUAL_DISABLE_REASON
        subscription.disabled_at = None if body.enabled else now
    subscription.updated_at = now
    session.add(subscription)
    await session.flush()
    return subscription


async def rotate_secret(
    session: AsyncSession,
    subscription: Subscription,
    *,
    keyring: Keyring,
    overlap_seconds: int,
    now: datetime,
) -> IssuedSecret:
    """New secret now; the current one keeps signing too (second signature) for the overlap."""
    sid, tid = subscription.id, subscription.tenant_id
    if overlap_seconds > 0:
        current = keyring.decrypt(subscription.secret_enc, _where(sid, tid))
        subscription.previous_secret_enc = keyring.encrypt(
            current, _where(sid, tid, "previous_secret_enc")
        )
        subscription.previous_secret_expires_at = now + timedelta(seconds=overlap_seconds)
    else:
        subscription.previous_secret_enc = None
        subscription.previous_secret_expires_at = None
    secret = generate_secret()
    subscription.secret_enc = keyring.encrypt(secret, _where(sid, tid))
    subscription.updated_at = now
    session.add(subscription)
    await session.flush()
    return IssuedSecret(subscription, secret)


async def delete_subscription(session: AsyncSession, subscription: Subscription) -> None:
    """Delete it with its deliveries; jobs already queued for them find nothing and stop."""
    await repository.delete_subscription(session, subscription)
    await session.flush()


def _reschedule(
    session: AsyncSession, delivery: Delivery, *, attempts_allowed: int, now: datetime
) -> None:
    """Make the delivery pending again under a new ``job_seq``; the caller queues its job."""
    delivery.status = "pending"
    delivery.max_attempts = delivery.attempts + attempts_allowed
    delivery.job_seq += 1
    delivery.next_attempt_at = now
    delivery.completed_at = None
    delivery.updated_at = now
    session.add(delivery)


async def retry_delivery(
    session: AsyncSession, delivery: Delivery, *, now: datetime
) -> tuple[Delivery, list[DeliveryAttempt]]:
    """Send a dead (or succeeded) delivery again now: one attempt, same ``webhook-id``."""
    if delivery.status == "pending":
        raise Conflict(
            "the delivery is already scheduled; see next_attempt_at", code="delivery_pending"
        )
    subscription = await repository.get_subscription(
        session, delivery.tenant_id, delivery.subscription_id
    )
    if subscription is None or not subscription.enabled:
        raise Conflict("enable the subscription before retrying", code="subscription_disabled")
    _reschedule(session, delivery, attempts_allowed=1, now=now)
    enqueue_after_commit(session, deliver_job(delivery.id, delivery.job_seq))
    await session.flush()
    attempts = await repository.attempts_of(session, [delivery.id])
    return delivery, attempts[delivery.id]


async def replay(
    session: AsyncSession,
    subscription: Subscription,
    body: ReplayRequest,
    *,
    policy: DeliveryPolicy,
) -> ReplayResult:
    """(Re)deliver this subscription's matching events received in ``[since, until)``.

    Events without a delivery (e.g. received while the subscription was disabled) get one; the
    others are rescheduled now with a fresh retry schedule. Oldest first, ``limit`` events
    examined per call.
    """
    if not subscription.enabled:
        raise Conflict("enable the subscription before replaying", code="subscription_disabled")
    if body.until is not None and body.until <= body.since:
        raise ValidationFailed("until must be later than since", code="invalid_time_range")
    events = await repository.events_since(
        session, subscription.tenant_id, body.since, body.until, body.limit + 1
    )
    truncated = len(events) > body.limit
    events = [e for e in events[: body.limit] if subscription_matches(subscription, e)]
    existing = await repository.deliveries_for_events(
        session, subscription.id, [e.id for e in events]
    )
    now = policy.clock()
    job_ids: list[str] = []
    for event in events:
        delivery = existing.get(event.id)
        if delivery is None:
            delivery = new_delivery(
                session, subscription, event, now=now, max_attempts=policy.max_attempts
            )
        else:
            _reschedule(session, delivery, attempts_allowed=policy.max_attempts, now=now)
        job_ids.append(deliver_job_id(delivery.id, delivery.job_seq))
    await session.flush()
    for job in deliver_many_jobs(job_ids):
        enqueue_after_commit(session, job)
    return ReplayResult(replayed=len(events), event_ids=[e.id for e in events], truncated=truncated)


async def list_deliveries(
    session: AsyncSession, subscription: Subscription, status: str | None, params: PageParams
) -> list[tuple[Delivery, list[DeliveryAttempt]]]:
    """A page of the subscription's deliveries (newest first), each with its attempts."""
    rows = await repository.list_deliveries(session, subscription.id, status, params)
    attempts = await repository.attempts_of(session, [d.id for d in rows])
    return [(d, attempts[d.id]) for d in rows]
