"""Worker side: turn one stored inbox row into a unified event and fan it out, exactly once.

    claim (own short transaction)   pending, or processing with an expired lease
        │                           → processing, lease_until = now + lease, attempts + 1
        ▼
    process (one transaction)       row locked and still ours? decrypt → normalise → type/data/
        │                           occurred_at → processed → fan_out() → COMMIT → dispatch jobs
        ├─ transient failure ─────► back to pending (lease = backoff), retry with backoff+jitter
        └─ final attempt, or a
           permanent failure ─────► dead, ``last_error`` visible in the API

Idempotent: a duplicate or late job finds nothing to claim; a job that lost its lease (stalled
past it, or the event was replayed) cannot commit, because the final update is conditional on
(status, attempts). The side effects (deliveries from ``fan_out``) and ``processed`` commit
together. The sweeper re-enqueues rows whose job never came (Redis flushed or down, a crash
between commit and enqueue).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.events import repository
from gateway.events.service import decrypt_payload
from gateway.events.states import PENDING_GRACE_SECONDS, PROCESS_EVENT, EventStatus
from gateway.kit.crypto import Keyring
from gateway.kit.db import DB_UNAVAILABLE_ERRORS, PendingJob, take_pending_jobs
from gateway.kit.errors import DecryptionFailed, GatewayError
from gateway.kit.logging import redact
from gateway.kit.metrics import EVENTS_PENDING, PROCESSING_LATENCY, QUEUE_LAG
from gateway.kit.queue import backoff_seconds
from gateway.kit.runtime import Runtime
from gateway.models import Event, Subscription
from gateway.models.base import utcnow
from gateway.providers.events import NormaliseContext
from gateway.providers.registry import get_provider
from gateway.subscriptions.fanout import fan_out
from gateway.subscriptions.repository import enabled_subscriptions

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 1000


class PermanentFailure(Exception):
    """Retrying cannot help (payload undecryptable, provider unknown): dead-letter at once."""


@dataclass(frozen=True)
class ProcessOutcome:
    status: Literal["processed", "skipped", "retry", "dead"]
    retry_in: float | None = None


def describe(exc: BaseException) -> str:
    """A short, secret-free reason for ``last_error`` (never SQL text or parameters)."""
    if isinstance(exc, GatewayError):
        text = f"{exc.code}: {exc.message}"
    elif isinstance(exc, DB_UNAVAILABLE_ERRORS):
        text = f"database_unavailable: {type(exc).__name__}"
    else:
        first_line = (str(exc).splitlines() or [""])[0][:200]
        text = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    return redact(text)[:500]


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int) else None


async def _context(session: AsyncSession, event: Event) -> NormaliseContext:
    """Non-secret metadata for the normaliser: the linked connection's bot identity and the
    endpoint's configured event-type path (generic HMAC endpoints)."""
    account: dict[str, Any] = {}
    if event.connection_id:
        account = await repository.connection_account(session, event.tenant_id, event.connection_id)
    config: dict[str, Any] = {}
    if event.endpoint_id:
        config = await repository.endpoint_public_config(
            session, event.tenant_id, event.endpoint_id
        )
    return NormaliseContext(
        bot_user_id=_text(account.get("bot_user_id")),
        bot_id=_text(account.get("bot_id")),
        app_id=_text(account.get("app_id")),
        event_type_path=_text(config.get("event_type_path")),
    )


ContextCache = dict[tuple[str, str | None, str | None], NormaliseContext]


async def normalise_event(
    session: AsyncSession, keyring: Keyring, event: Event, contexts: ContextCache | None = None
) -> None:
    """Fill ``type``, ``data`` and ``occurred_at`` from the stored payload (``contexts``:
    normaliser contexts already loaded in this transaction, by tenant/connection/endpoint)."""
    if event.endpoint_id is None and event.type is not None:
        return  # a gateway-made event (connection.*) is unified from birth
    provider = get_provider(event.provider)
    if provider is None:
        raise PermanentFailure(f"unknown provider {event.provider!r}")
    try:
        payload = decrypt_payload(keyring, event)
    except (DecryptionFailed, ValueError):
        raise PermanentFailure("stored payload cannot be decrypted") from None
    key = (event.tenant_id, event.connection_id, event.endpoint_id)
    context = contexts.get(key) if contexts is not None else None
    if context is None:
        context = await _context(session, event)
        if contexts is not None:
            contexts[key] = context
    normalised = provider.normaliser.normalise(
        event.raw_type, payload if isinstance(payload, dict) else {}, context
    )
    event.type = normalised.type
    event.data = normalised.data.model_dump(mode="json")
    event.occurred_at = normalised.occurred_at or event.received_at


async def _process_claimed(
    runtime: Runtime, event_id: str, attempts: int, collect: list[PendingJob] | None
) -> bool:
    """One transaction: normalise, mark processed, fan out, commit; then send its jobs (or add
    them to ``collect`` for the caller to send)."""
    async with runtime.sessionmaker() as session:
        event = await repository.lock_event(session, event_id)
        if event is None or event.status != EventStatus.PROCESSING or event.attempts != attempts:
            return False  # lost the claim (lease expired and re-claimed, or replayed)
        await normalise_event(session, runtime.keyring, event)
        _mark_processed(event)
        await session.flush()
        await fan_out(session, event)
        await session.commit()
        jobs = take_pending_jobs(session)
    if collect is not None:
        collect.extend(jobs)
    else:
        await runtime.dispatch(jobs)
    return True


def _mark_processed(event: Event) -> None:
    event.status = EventStatus.PROCESSED.value
    event.processed_at = utcnow()
    event.lease_until = None
    event.last_error = None


def _is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, (sa.exc.SQLAlchemyError, *DB_UNAVAILABLE_ERRORS))


async def _process_claimed_batch(
    runtime: Runtime, claimed: dict[str, int], collect: list[PendingJob]
) -> tuple[list[str], dict[str, Exception]]:
    """One transaction for a whole claimed batch: lock the rows, normalise each, mark them
    processed, fan them out (each tenant's subscriptions and each endpoint's context loaded
    once), one commit. Returns (processed ids, failures by id); an event whose own payload
    fails is left out and returned as a failure, while a database error aborts the whole
    transaction (raised: the caller goes back to one transaction per event)."""
    processed: list[Event] = []
    failures: dict[str, Exception] = {}
    contexts: ContextCache = {}
    async with runtime.sessionmaker() as session:
        for event in await repository.lock_events(session, list(claimed)):
            if event.status != EventStatus.PROCESSING or event.attempts != claimed[event.id]:
                continue  # lost the claim (lease expired and re-claimed, or replayed)
            try:
                await normalise_event(session, runtime.keyring, event, contexts)
            except Exception as exc:
                if _is_database_error(exc):
                    raise
                failures[event.id] = exc
                continue
            _mark_processed(event)
            processed.append(event)
        await session.flush()
        subscriptions: dict[str, list[Subscription]] = {}
        for event in processed:
            if event.tenant_id not in subscriptions:
                subscriptions[event.tenant_id] = await enabled_subscriptions(
                    session, event.tenant_id
                )
            await fan_out(session, event, subscriptions[event.tenant_id])
        await session.commit()
        collect.extend(take_pending_jobs(session))
    return [event.id for event in processed], failures


async def process_batch(
    runtime: Runtime, event_ids: list[str], collect: list[PendingJob]
) -> dict[str, ProcessOutcome]:
    """Process many events with two transactions in all (claim, then process) instead of two
    per event; the fan-out jobs are added to ``collect``. Never raises for a processing
    failure: each event gets its own outcome, exactly as :func:`process_event` would give it.
    If the shared transaction fails, every claimed event is processed on its own."""
    now = utcnow()
    lease = timedelta(seconds=runtime.settings.inbox_lease_seconds)
    try:
        async with runtime.sessionmaker() as session:
            taken = await repository.claim_many(session, event_ids, now, now + lease)
            await session.commit()
    except DB_UNAVAILABLE_ERRORS as exc:
        logger.warning("cannot claim %d events: %s", len(event_ids), type(exc).__name__)
        return {event_id: ProcessOutcome("retry", backoff_seconds(1)) for event_id in event_ids}
    outcomes = {event_id: ProcessOutcome("skipped") for event_id in event_ids}
    claimed = {event_id: attempts for event_id, (attempts, _) in taken.items()}
    for attempts, received_at in taken.values():
        if attempts == 1:
            QUEUE_LAG.observe(max(0.0, (now - received_at).total_seconds()))
    if not claimed:
        return outcomes
    started = time.perf_counter()
    try:
        done, failures = await _process_claimed_batch(runtime, claimed, collect)
    except Exception as exc:
        if len(claimed) == 1:  # nothing to tell apart: that event failed
            [(event_id, attempts)] = claimed.items()
            outcomes[event_id] = await _settle_failure(runtime, event_id, attempts, exc)
            return outcomes
        logger.warning("batch of %d events failed together; processing one by one", len(claimed))
        for event_id, attempts in claimed.items():
            outcomes[event_id] = await _process_one_claimed(runtime, event_id, attempts, collect)
        return outcomes
    elapsed = time.perf_counter() - started
    for event_id in done:
        PROCESSING_LATENCY.observe(elapsed)
        outcomes[event_id] = ProcessOutcome("processed")
    for event_id, failure in failures.items():
        outcomes[event_id] = await _settle_failure(runtime, event_id, claimed[event_id], failure)
    return outcomes


async def _settle_failure(
    runtime: Runtime, event_id: str, attempts: int, exc: BaseException
) -> ProcessOutcome:
    final = isinstance(exc, PermanentFailure) or attempts >= runtime.settings.event_max_attempts
    now = utcnow()
    if final:
        values: dict[str, Any] = {"status": EventStatus.DEAD.value, "lease_until": None}
        outcome = ProcessOutcome("dead")
    else:
        delay = backoff_seconds(attempts)
        values = {
            "status": EventStatus.PENDING.value,
            "lease_until": now + timedelta(seconds=delay + PENDING_GRACE_SECONDS),
        }
        outcome = ProcessOutcome("retry", delay)
    values["last_error"] = describe(exc)
    try:
        async with runtime.sessionmaker() as session:
            await repository.release(session, event_id, attempts, values)
            await session.commit()
    except DB_UNAVAILABLE_ERRORS:
        # The row stays leased; once the lease runs out a retry or the sweeper takes it again.
        return ProcessOutcome("retry", backoff_seconds(attempts))
    log = logger.error if final else logger.warning
    log("event %s attempt %d failed: %s", event_id, attempts, values["last_error"])
    return outcome


async def process_event(
    runtime: Runtime, event_id: str, *, collect: list[PendingJob] | None = None
) -> ProcessOutcome:
    """Process one event if it can be claimed; never raises for a processing failure.

    With ``collect``, the jobs of the committed fan-out are added to it instead of being sent:
    a batch job sends the deliveries of all its events together.
    """
    now = utcnow()
    lease = timedelta(seconds=runtime.settings.inbox_lease_seconds)
    try:
        async with runtime.sessionmaker() as session:
            claimed = await repository.claim(session, event_id, now, now + lease)
            await session.commit()
    except DB_UNAVAILABLE_ERRORS as exc:
        logger.warning("cannot claim event %s: %s", event_id, type(exc).__name__)
        return ProcessOutcome("retry", backoff_seconds(1))
    if claimed is None:
        return ProcessOutcome("skipped")
    attempts, received_at = claimed
    if attempts == 1:
        QUEUE_LAG.observe(max(0.0, (now - received_at).total_seconds()))
    return await _process_one_claimed(runtime, event_id, attempts, collect)


async def _process_one_claimed(
    runtime: Runtime, event_id: str, attempts: int, collect: list[PendingJob] | None
) -> ProcessOutcome:
    started = time.perf_counter()
    try:
        done = await _process_claimed(runtime, event_id, attempts, collect)
    except Exception as exc:
        return await _settle_failure(runtime, event_id, attempts, exc)
    finally:
        PROCESSING_LATENCY.observe(time.perf_counter() - started)
    return ProcessOutcome("processed" if done else "skipped")


async def requeue_stale(runtime: Runtime, now: datetime | None = None) -> int:
    """The sweeper: enqueue a job for every unfinished row whose lease or grace ran out.

    Safe to run anywhere, any number of times: the job id is the event id and processing is
    idempotent. Stops at the first failed enqueue (queue down); the next sweep tries again.
    """
    moment = now or utcnow()
    async with runtime.sessionmaker() as session:
        event_ids = await repository.stale_event_ids(session, moment, SWEEP_LIMIT)
        EVENTS_PENDING.set(await repository.count_unfinished(session))
    queue = runtime.queue
    if queue is None or not event_ids:
        return 0
    sent = 0
    for event_id in event_ids:
        if not await queue.enqueue(PROCESS_EVENT, event_id, job_id=event_id):
            break
        sent += 1
    if sent:
        logger.info("sweeper re-enqueued %d events", sent)
    return sent


def retry_job(event_id: str, delay: float) -> PendingJob:
    """The per-event retry of an event that failed inside a batch job."""
    return PendingJob(PROCESS_EVENT, (event_id,), job_id=event_id, defer_seconds=delay)
