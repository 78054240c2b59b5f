"""Fan-out seam: called once an event is stored in its unified form (webhook events after
normalisation, ``connection.*`` events when they happen), inside the caller's transaction.

Each enabled subscription of the event's tenant whose filters match gets one delivery row
(unique per subscription and event); the new deliveries share one ``deliver_many`` job, sent
after the caller commits (``enqueue_after_commit``: the caller dispatches its pending jobs after
commit, and a caller committing many fan-outs merges them with ``coalesce_delivery_jobs``; if it
never dispatches, the delivery sweeper picks the rows up). Disabled subscriptions get nothing;
their events stay in the events table and ``POST /v1/subscriptions/{id}/replay`` delivers them
later.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.db import enqueue_after_commit
from gateway.kit.ids import new_id
from gateway.models import Delivery, Event, Subscription
from gateway.providers.events import matches_pattern
from gateway.providers.registry import get_provider
from gateway.subscriptions import repository
from gateway.subscriptions.policy import DeliveryPolicy, deliver_job_id, deliver_many_jobs


def canonical_provider(provider_id: str) -> str:
    """``feishu`` → ``lark``; unknown (custom) providers stay as they are."""
    provider = get_provider(provider_id)
    return provider.id if provider is not None else provider_id


def subscription_matches(subscription: Subscription, event: Event) -> bool:
    """Whether ``event`` passes the subscription's type patterns and optional filters."""
    if event.type is None or event.tenant_id != subscription.tenant_id:
        return False
    if not any(matches_pattern(event.type, p) for p in subscription.event_types):
        return False
    if subscription.providers is not None:
        wanted = {canonical_provider(p) for p in subscription.providers}
        if canonical_provider(event.provider) not in wanted:
            return False
    return subscription.endpoint_ids is None or event.endpoint_id in subscription.endpoint_ids


def new_delivery(
    session: AsyncSession,
    subscription: Subscription,
    event: Event,
    *,
    now: datetime,
    max_attempts: int,
) -> Delivery:
    """Add a pending delivery due now; its first job's id is the delivery id (``job_seq`` 0).

    The caller queues the job (``deliver_many_jobs``), one for all the deliveries it creates.
    """
    delivery = Delivery(
        id=new_id("dlv"),
        tenant_id=subscription.tenant_id,
        subscription_id=subscription.id,
        event_id=event.id,
        event_type=event.type or "webhook.received",
        status="pending",
        max_attempts=max_attempts,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    return delivery


async def fan_out(
    session: AsyncSession, event: Event, enabled: list[Subscription] | None = None
) -> int:
    """Create one delivery per matching enabled subscription; returns how many were created.

    ``enabled``: the tenant's enabled subscriptions when the caller already loaded them (a
    batch of events of one tenant, in the same transaction). Idempotent: a subscription that
    already has a delivery for this event gets no second one.
    """
    if event.type is None:
        return 0
    if enabled is None:
        enabled = await repository.enabled_subscriptions(session, event.tenant_id)
    subscriptions = [s for s in enabled if subscription_matches(s, event)]
    if not subscriptions:
        return 0
    already = await repository.subscriptions_with_delivery(session, event.id)
    policy = DeliveryPolicy()
    now = policy.clock()
    created = [
        new_delivery(session, subscription, event, now=now, max_attempts=policy.max_attempts)
        for subscription in subscriptions
        if subscription.id not in already
    ]
    await session.flush()
    for job in deliver_many_jobs(deliver_job_id(d.id, d.job_seq) for d in created):
        enqueue_after_commit(session, job)
    return len(created)
