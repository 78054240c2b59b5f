"""``/v1/subscriptions`` and ``/v1/deliveries``: outbound delivery of events to applications."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from gateway.deps import RuntimeDep, SessionDep, TenantDep
from gateway.kit.errors import NotFound
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses
from gateway.models import Delivery, DeliveryAttempt, Subscription
from gateway.subscriptions import repository, service
from gateway.subscriptions.policy import delivery_policy
from gateway.subscriptions.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryStatus,
    ReplayRequest,
    ReplayResult,
    SecretRotate,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
    SubscriptionUpdate,
)

router = APIRouter(prefix="/v1", tags=["subscriptions"], responses=problem_responses(401, 422))

PageDep = Annotated[PageParams, Depends(page_params)]

# ``kit.problems`` documents no 409 yet; described here the same way.
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {}},
        "description": "Conflict (the subscription is disabled, or the delivery is scheduled)",
    }
}


async def tenant_subscription(
    subscription_id: Annotated[str, Path(max_length=40)], tenant: TenantDep, session: SessionDep
) -> Subscription:
    row = await repository.get_subscription(session, tenant.id, subscription_id)
    if row is None:
        raise NotFound("subscription not found", code="subscription_not_found")
    return row


async def tenant_delivery(
    delivery_id: Annotated[str, Path(max_length=40)], tenant: TenantDep, session: SessionDep
) -> Delivery:
    row = await repository.get_delivery(session, tenant.id, delivery_id)
    if row is None:
        raise NotFound("delivery not found", code="delivery_not_found")
    return row


SubscriptionDep = Annotated[Subscription, Depends(tenant_subscription)]
DeliveryDep = Annotated[Delivery, Depends(tenant_delivery)]


def _out(row: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(row, from_attributes=True)


def _delivery_out(delivery: Delivery, attempts: list[DeliveryAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempt_count=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        completed_at=delivery.completed_at,
        attempts=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )


@router.post(
    "/subscriptions",
    operation_id="create_subscription",
    response_model=SubscriptionCreated,
    status_code=201,
)
async def create_subscription(
    body: SubscriptionCreate, tenant: TenantDep, session: SessionDep, runtime: RuntimeDep
) -> SubscriptionCreated:
    """Subscribe a URL to events matching `event_types` (optionally only from some providers
    or webhook endpoints). Deliveries are Standard Webhooks: verify `webhook-signature` with the
    `whsec_…` secret, which is returned in this response only. The URL must pass the SSRF guard
    (`destination_blocked` otherwise)."""
    issued = await service.create_subscription(
        session,
        tenant.id,
        body,
        keyring=runtime.keyring,
        egress=runtime.egress,
        now=delivery_policy(runtime).clock(),
    )
    return SubscriptionCreated(**_out(issued.subscription).model_dump(), secret=issued.secret)


@router.get(
    "/subscriptions", operation_id="list_subscriptions", response_model=Page[SubscriptionOut]
)
async def list_subscriptions(
    tenant: TenantDep, session: SessionDep, page: PageDep
) -> dict[str, object]:
    """The tenant's subscriptions, newest first (never their secrets)."""
    rows = await repository.list_subscriptions(session, tenant.id, page)
    return make_page(rows, page, _out)


@router.get(
    "/subscriptions/{subscription_id}",
    operation_id="get_subscription",
    response_model=SubscriptionOut,
    responses=problem_responses(404),
)
async def get_subscription(subscription: SubscriptionDep) -> SubscriptionOut:
    """One subscription, with why it is disabled if it is."""
    return _out(subscription)


@router.patch(
    "/subscriptions/{subscription_id}",
    operation_id="update_subscription",
    response_model=SubscriptionOut,
    responses=problem_responses(404),
)
async def update_subscription(
    body: SubscriptionUpdate,
    subscription: SubscriptionDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SubscriptionOut:
    """Change the URL, filters or description, or enable/disable. Events that arrive while a
    subscription is disabled are kept; replay them after enabling it again."""
    row = await service.update_subscription(
        session, subscription, body, egress=runtime.egress, now=delivery_policy(runtime).clock()
    )
    return _out(row)


@router.delete(
    "/subscriptions/{subscription_id}",
    operation_id="delete_subscription",
    response_model=SubscriptionOut,
    responses=problem_responses(404),
)
async def delete_subscription(
    subscription: SubscriptionDep, session: SessionDep
) -> SubscriptionOut:
    """Delete a subscription and its delivery history; returns what was deleted."""
    out = _out(subscription)
    await service.delete_subscription(session, subscription)
    return out


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    operation_id="rotate_subscription_secret",
    response_model=SecretRotated,
    responses=problem_responses(404),
)
async def rotate_secret(
    subscription: SubscriptionDep,
    session: SessionDep,
    runtime: RuntimeDep,
    body: SecretRotate | None = None,
) -> SecretRotated:
    """Issue a new signing secret (returned once). Until `previous_secret_expires_at` every
    delivery carries two signatures, one per secret, so receivers can switch at any moment."""
    overlap = runtime.settings.subscription_secret_overlap_seconds
    if body is not None and body.overlap_seconds is not None:
        overlap = body.overlap_seconds
    issued = await service.rotate_secret(
        session,
        subscription,
        keyring=runtime.keyring,
        overlap_seconds=overlap,
        now=delivery_policy(runtime).clock(),
    )
    return SecretRotated(
        id=subscription.id,
        secret=issued.secret,
        previous_secret_expires_at=issued.subscription.previous_secret_expires_at,
    )


@router.post(
    "/subscriptions/{subscription_id}/replay",
    operation_id="replay_subscription_events",
    response_model=ReplayResult,
    status_code=202,
    responses={**problem_responses(404), **_CONFLICT},
)
async def replay_events(
    body: ReplayRequest, subscription: SubscriptionDep, session: SessionDep, runtime: RuntimeDep
) -> ReplayResult:
    """Deliver again every matching event received since `since` (and before `until`),
    including events that arrived while the subscription was disabled. Each goes out with its
    original `webhook-id` and a fresh retry schedule."""
    return await service.replay(session, subscription, body, policy=delivery_policy(runtime))


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    operation_id="list_subscription_deliveries",
    response_model=Page[DeliveryOut],
    responses=problem_responses(404),
)
async def list_deliveries(
    subscription: SubscriptionDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[DeliveryStatus | None, Query(description="Only this status")] = None,
) -> dict[str, object]:
    """Deliveries to this subscription, newest first, each with its attempts (status code,
    latency, start of the response body) and the time of the next attempt. `dead` deliveries
    exhausted the retry schedule (or met 410 Gone) and can be retried."""
    rows = await service.list_deliveries(session, subscription, status, page)
    return make_page(rows, page, lambda r: _delivery_out(*r), id_of=lambda r: r[0].id)


@router.post(
    "/deliveries/{delivery_id}/retry",
    operation_id="retry_delivery",
    response_model=DeliveryOut,
    status_code=202,
    responses={**problem_responses(404), **_CONFLICT},
)
async def retry_delivery(
    delivery: DeliveryDep, session: SessionDep, runtime: RuntimeDep
) -> DeliveryOut:
    """Send a dead (or already succeeded) delivery again now, with the same `webhook-id`: one
    attempt; if it fails the delivery is dead again. 409 while it is still scheduled or while
    its subscription is disabled."""
    row, attempts = await service.retry_delivery(
        session, delivery, now=delivery_policy(runtime).clock()
    )
    return _delivery_out(row, attempts)
