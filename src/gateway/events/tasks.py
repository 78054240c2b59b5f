"""Queue tasks of the events domain (registered in ``gateway.jobs``).

- ``process_event_batch(event_ids)``: sent once per committed ingest batch (one Redis write per
  batch instead of per event keeps the receive path fast). The events are claimed and processed
  ``BATCH_SIZE`` at a time, two transactions per chunk; one that fails is handed to a
  ``process_event`` job of its own with backoff, so a failure never re-runs its batch-mates.
  The deliveries the batch's fan-outs create are sent together once every event is done
  (``deliver_many`` jobs of up to 100 deliveries).
- ``process_event(event_id)``: one event (sweeper, retries, replays); ``_job_id`` = event id.
  A transient failure raises ``arq.Retry`` with exponential backoff and jitter.
- ``sweep_inbox``: periodic re-enqueue of rows whose job never came.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from arq import Retry

from gateway.events import processing
from gateway.events.states import SWEEP_INBOX
from gateway.kit.db import PendingJob
from gateway.kit.queue import PeriodicJob
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.subscriptions.policy import coalesce_delivery_jobs

#: Events processed in one transaction (two in all: claim, then process and fan out).
BATCH_SIZE = 100


async def process_event(ctx: dict[str, Any], event_id: str) -> str:
    runtime: Runtime = ctx["runtime"]
    outcome = await processing.process_event(runtime, event_id)
    if outcome.status == "retry":
        raise Retry(defer=outcome.retry_in)
    return outcome.status


async def process_event_batch(ctx: dict[str, Any], event_ids: list[str]) -> dict[str, int]:
    runtime: Runtime = ctx["runtime"]
    fanned_out: list[PendingJob] = []
    statuses: list[str] = []
    try:
        for start in range(0, len(event_ids), BATCH_SIZE):
            chunk = event_ids[start : start + BATCH_SIZE]
            outcomes = await processing.process_batch(runtime, chunk, fanned_out)
            retries = [
                processing.retry_job(event_id, outcome.retry_in or 1.0)
                for event_id, outcome in outcomes.items()
                if outcome.status == "retry"
            ]
            await runtime.dispatch(retries)
            statuses += [outcome.status for outcome in outcomes.values()]
    finally:
        # Sent even if the job is cancelled part-way: those events are committed already.
        await runtime.dispatch(coalesce_delivery_jobs(fanned_out))
    return dict(Counter(statuses))


async def sweep_inbox(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    return await processing.requeue_stale(runtime)


SWEEPER = PeriodicJob(SWEEP_INBOX, sweep_inbox, Settings().sweeper_interval_seconds)
