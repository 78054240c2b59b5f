"""Queue entry points of the subscriptions domain (registered in ``gateway.jobs``).

``deliver_many`` makes the first attempt of a fan-out batch (or a replay) of deliveries, one
queue job for up to ``DELIVER_MANY_CHUNK`` of them; its job id is a digest of its items, so a
re-sent batch is refused as a duplicate. ``deliver`` makes one attempt of one delivery
(retries, manual retry, the sweeper); retries are new jobs deferred with the queue
(``_defer_by``), never sleeps inside a job. ``sweep_deliveries`` is the safety net for jobs
that were lost (Redis flushed or down during an enqueue, an embedded-mode process restarted):
every ``GATEWAY_SWEEPER_INTERVAL_SECONDS`` it re-enqueues pending deliveries that are overdue by
more than ``GATEWAY_INBOX_LEASE_SECONDS``. It re-uses the job id the delivery is waiting for, so a
``deliver`` job that still exists is not duplicated (arq and the in-process dispatcher both
refuse a known job id). A delivery whose ``deliver_many`` batch is still waiting in the queue
after the lease (a backlog longer than a minute) can be attempted by both jobs: the subscriber
may then receive it twice with the same ``webhook-id``, and only one attempt is recorded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gateway.kit.db import DB_UNAVAILABLE_ERRORS
from gateway.kit.queue import PeriodicJob
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.subscriptions import repository
from gateway.subscriptions.delivery import attempt_delivery, attempt_many
from gateway.subscriptions.policy import deliver_job, delivery_policy

SWEEP_BATCH = 1000


async def deliver(ctx: dict[str, Any], delivery_id: str) -> str:
    """Attempt one delivery (idempotent: a succeeded or re-owned delivery is left alone)."""
    runtime: Runtime = ctx["runtime"]
    return await attempt_delivery(runtime, delivery_id, ctx.get("job_id"))


async def deliver_many(ctx: dict[str, Any], delivery_ids: list[str]) -> dict[str, int]:
    """Attempt a batch of deliveries; each item is the per-delivery job id owning the attempt
    (the delivery id for a first attempt). Returns how many ended how."""
    runtime: Runtime = ctx["runtime"]
    return await attempt_many(runtime, delivery_ids)


async def requeue_overdue(
    runtime: Runtime, *, grace_seconds: float, limit: int = SWEEP_BATCH
) -> int:
    """Re-enqueue pending deliveries overdue by more than ``grace_seconds``; returns how many."""
    policy = delivery_policy(runtime)
    due_before = policy.clock() - timedelta(seconds=grace_seconds)
    async with runtime.sessionmaker() as session:
        overdue = await repository.due_deliveries(session, due_before, limit)
    await runtime.dispatch([deliver_job(delivery_id, seq) for delivery_id, seq in overdue])
    return len(overdue)


async def sweep_deliveries(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    try:
        return await requeue_overdue(runtime, grace_seconds=runtime.settings.inbox_lease_seconds)
    except DB_UNAVAILABLE_ERRORS:
        return 0  # the next sweep catches up


DELIVERY_SWEEPER = PeriodicJob(
    "delivery_sweeper", sweep_deliveries, Settings().sweeper_interval_seconds
)
