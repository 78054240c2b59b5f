"""One delivery attempt: the body of the ``deliver`` and ``deliver_many`` jobs.

No database transaction is held across the HTTP call (it may take 15 s)::

    1. read      one query: delivery + subscription + event. Nothing to do if the delivery is
                 gone, not pending (a succeeded delivery is never sent again) or this job is
                 stale (``job_seq`` moved on). Subscription disabled → ``dead``, nothing sent.
    2. slot      at most N requests in flight per subscription in this process; when none frees
                 up quickly the job re-queues itself (new job id) and frees its worker slot.
    3. POST      the unified event, Standard-Webhooks signed, through the shared SSRF-guarded
                 client, 15 s for the whole exchange; a capped snippet of the answer is kept.
    4. record    the attempt row and the delivery's new state, guarded by ``job_seq``, in a
                 transaction shared with concurrent jobs (``store``: group commit); 410
                 disables the subscription; the next job is sent after the commit.

``deliver_many`` (one queue job per fan-out batch, ``attempt_many``) runs the same attempt for
up to ``DELIVER_MANY_CHUNK`` deliveries, ``batch_concurrency`` items of all batches of the
process at a time. Each item is the id of the per-delivery job that owns the attempt, so the
ownership check is the same. A delivery that must wait (subscriber busy, a retry) continues as
a ``deliver`` job of its own.

At-least-once: a worker killed between 3 and 4 leaves the delivery pending under the same job,
so arq runs that job again (or the sweeper re-enqueues it) and the subscriber receives the event
again with the **same** ``webhook-id`` (= event id). Receivers deduplicate on ``webhook-id``. A
re-run ``deliver_many`` skips its items that were recorded before the crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import httpx
from arq import Retry
from sqlalchemy import RowMapping

from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.db import DB_UNAVAILABLE_ERRORS, PendingJob
from gateway.kit.errors import DecryptionFailed
from gateway.kit.http import ResponseTooLarge, read_capped
from gateway.kit.ids import new_id
from gateway.kit.metrics import DELIVERY_ATTEMPTS, DELIVERY_LATENCY
from gateway.kit.queue import backoff_seconds
from gateway.kit.runtime import Runtime
from gateway.kit.ssrf import DestinationBlocked
from gateway.subscriptions import repository
from gateway.subscriptions.policy import (
    DeliveryPolicy,
    batch_slots,
    deliver_job,
    deliver_job_id,
    delivery_policy,
    parse_retry_after,
    split_deliver_job_id,
    subscriber_limiter,
)
from gateway.subscriptions.signing import secret_key, webhook_headers
from gateway.subscriptions.store import Outcome, delivery_store

logger = logging.getLogger(__name__)

GONE_REASON = "The subscriber answered 410 Gone"


@dataclass(frozen=True)
class Answer:
    """What one HTTP attempt produced."""

    status_code: int | None
    error_code: str | None
    error: str | None
    snippet: str | None
    duration_ms: float
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _raw_payload(keyring: Keyring, row: RowMapping) -> Any:
    where = FieldContext("events", "payload_enc", row["event_id"], row["event_tenant_id"])
    raw = keyring.decrypt_bytes(row["payload_enc"], where)
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def event_body(keyring: Keyring, row: RowMapping) -> bytes:
    """The unified event as subscribers receive it (design.md, "Unified event")."""
    document = {
        "id": row["event_id"],
        "type": row["type"],
        "provider": row["provider"],
        "endpoint_id": row["endpoint_id"],
        "connection_id": row["connection_id"],
        "provider_event_id": row["provider_event_id"],
        "occurred_at": _iso(row["occurred_at"]),
        "received_at": _iso(row["received_at"]),
        "data": row["data"] or {},
        "raw": _raw_payload(keyring, row),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def signing_keys(keyring: Keyring, row: RowMapping, now: datetime) -> list[bytes]:
    """The current key, plus the previous one while its overlap window lasts."""
    sub_id, tenant_id = row["subscription_id"], row["tenant_id"]
    current = FieldContext("subscriptions", "secret_enc", sub_id, tenant_id)
    keys = [secret_key(keyring.decrypt(row["secret_enc"], current))]
    expires = row["previous_secret_expires_at"]
    if row["previous_secret_enc"] and expires is not None and expires > now:
        previous = FieldContext("subscriptions", "previous_secret_enc", sub_id, tenant_id)
        keys.append(secret_key(keyring.decrypt(row["previous_secret_enc"], previous)))
    return keys


@lru_cache(maxsize=4096)
def _parsed_url(url: str) -> httpx.URL:
    """Subscriber URLs repeat: parse each once (``httpx.URL`` is immutable)."""
    return httpx.URL(url)


async def post_event(
    http: httpx.AsyncClient,
    policy: DeliveryPolicy,
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> Answer:
    """POST once; never raises for anything the subscriber or the network does."""
    started = time.perf_counter()
    status: int | None = None
    snippet: str | None = None
    retry_after: str | None = None
    error_code: str | None = None
    error: str | None = None
    try:
        # Built here rather than with ``http.build_request``: merging the client's defaults and
        # re-parsing the URL cost 15-40 us of CPU per delivery (``bench/client_layers.py``);
        # the client has no base URL, auth or default headers a delivery needs.
        request = httpx.Request(
            "POST",
            _parsed_url(url),
            content=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(policy.timeout_seconds).as_dict()},
        )
        response = await http.send(request, stream=True)
        status = response.status_code
        retry_after = response.headers.get("retry-after")
        try:
            raw = await read_capped(response, policy.snippet_read_bytes)
            snippet = raw[: policy.snippet_chars * 4].decode("utf-8", errors="replace")
            snippet = snippet[: policy.snippet_chars] or None
        except ResponseTooLarge:
            snippet = f"(response body over {policy.snippet_read_bytes} bytes, not kept)"
        except httpx.HTTPError:
            snippet = None  # the status line arrived; the body did not
    except DestinationBlocked as exc:
        error_code, error = "destination_blocked", f"destination blocked: {exc.reason}"
    except httpx.TimeoutException:
        error_code, error = "timeout", f"no complete answer within {policy.timeout_seconds:g} s"
    except httpx.TransportError as exc:
        error_code, error = "connection_error", f"connection failed ({type(exc).__name__})"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error_code, error = "http_error", f"request failed ({type(exc).__name__})"
    duration = time.perf_counter() - started
    DELIVERY_LATENCY.observe(duration)
    if status is not None and not 200 <= status < 300:
        error_code, error = "http_status", f"HTTP {status}"
    return Answer(
        status_code=status,
        error_code=error_code,
        error=error,
        snippet=snippet,
        duration_ms=round(duration * 1000, 3),
        retry_after=parse_retry_after(retry_after, policy.clock()) if status else None,
    )


def _no_request(error_code: str, error: str) -> Answer:
    return Answer(None, error_code, error, None, 0.0)


async def attempt_delivery(runtime: Runtime, delivery_id: str, job_id: str | None = None) -> str:
    """Run one attempt of ``delivery_id`` as job ``job_id``; returns what happened.

    Results: ``skipped`` (nothing to do), ``requeued`` (subscriber busy), ``succeeded``,
    ``retrying``, ``dead``, ``gone``. Raises ``arq.Retry`` only when the database is down.
    """
    policy = delivery_policy(runtime)
    store = delivery_store(runtime)
    try:
        row = await store.load(delivery_id)
    except DB_UNAVAILABLE_ERRORS as exc:
        raise Retry(defer=backoff_seconds(1, base=2.0, cap=60.0)) from exc
    if row is None or row["status"] != "pending":
        return "skipped"
    if job_id is not None and job_id != deliver_job_id(delivery_id, row["job_seq"]):
        return "skipped"  # a stale or duplicate job: another job owns the next attempt
    if not row["enabled"]:
        answer = _no_request("subscription_disabled", "the subscription is disabled")
        return await _record(runtime, policy, row, answer, policy.clock(), final=True)

    limiter = subscriber_limiter(runtime)
    async with limiter.hold(
        row["subscription_id"], policy.per_subscription_concurrency, policy.slot_wait_seconds
    ) as acquired:
        if not acquired:
            return await _requeue_busy(runtime, policy, row)
        started_at = policy.clock()
        try:
            body = event_body(runtime.keyring, row)
            keys = signing_keys(runtime.keyring, row, started_at)
        except (DecryptionFailed, ValueError) as exc:
            # A key problem the operator can fix: fail this attempt (the schedule continues)
            # rather than send half an event; only the error class is recorded.
            answer = _no_request(
                "decryption_failed", f"stored data unreadable ({type(exc).__name__})"
            )
            return await _record(runtime, policy, row, answer, started_at)
        headers = webhook_headers(row["event_id"], int(time.time()), body, keys)
        answer = await post_event(runtime.http, policy, row["url"], body, headers)
    return await _record(runtime, policy, row, answer, started_at)


async def attempt_many(runtime: Runtime, job_ids: Sequence[str]) -> dict[str, int]:
    """Run the per-delivery jobs ``job_ids`` concurrently (sharing the process's batch turns
    with other ``deliver_many`` jobs); returns how many ended how.

    A delivery that could not be loaded or recorded (database down) is handed to a ``deliver``
    job of its own with backoff (``retried``), so a failure never re-runs its batch-mates.
    """
    limit = batch_slots(runtime, delivery_policy(runtime))
    retries: list[PendingJob] = []

    async def one(job_id: str) -> str:
        delivery_id, job_seq = split_deliver_job_id(job_id)
        try:
            async with limit:
                return await attempt_delivery(runtime, delivery_id, job_id)
        except Retry as retry:
            defer = retry.defer_score / 1000 if retry.defer_score else None
            retries.append(deliver_job(delivery_id, job_seq, defer))
            return "retried"

    outcomes = await asyncio.gather(*(one(job_id) for job_id in job_ids))
    await runtime.dispatch(retries)
    return dict(Counter(outcomes))


async def _requeue_busy(runtime: Runtime, policy: DeliveryPolicy, row: RowMapping) -> str:
    """The subscriber is saturated: free this worker slot, try again shortly (no attempt)."""
    delay = policy.busy_requeue_seconds * random.uniform(0.5, 1.5)
    when = policy.clock() + timedelta(seconds=delay)
    try:
        async with runtime.sessionmaker() as session, session.begin():
            owned = await repository.requeue_busy(session, row["id"], row["job_seq"], when)
    except DB_UNAVAILABLE_ERRORS as exc:
        raise Retry(defer=backoff_seconds(1, base=2.0, cap=60.0)) from exc
    if owned:
        await runtime.dispatch([deliver_job(row["id"], row["job_seq"] + 1, delay)])
    return "requeued"


async def _record(
    runtime: Runtime,
    policy: DeliveryPolicy,
    row: RowMapping,
    answer: Answer,
    attempted_at: datetime,
    *,
    final: bool = False,
) -> str:
    """Commit the attempt and the delivery's next state; send the next job if there is one."""
    now = policy.clock()
    number = row["attempts"] + 1
    next_seq = row["job_seq"] + 1
    values: dict[str, Any] = {
        "status": "pending",
        "attempts": number,
        "next_attempt_at": None,
        "completed_at": now,
        "last_status_code": answer.status_code,
        "last_error": answer.error,
        "updated_at": now,
    }
    jobs: list[PendingJob] = []
    disable: str | None = None
    if answer.succeeded:
        outcome = "succeeded"
        values["status"] = "succeeded"
    elif answer.status_code == 410:
        outcome, disable = "gone", row["subscription_id"]
        values.update(status="dead", last_error=GONE_REASON)
    else:
        remaining = row["max_attempts"] - number
        delay = None if final else policy.next_delay(remaining, answer.retry_after)
        if delay is None:
            outcome = "dead"
            values["status"] = "dead"
        else:
            outcome = "retrying"
            values.update(next_attempt_at=now + timedelta(seconds=delay), completed_at=None)
            jobs.append(deliver_job(row["id"], next_seq, policy.queue_defer(delay)))
    attempt = {
        "id": new_id("att"),
        "tenant_id": row["tenant_id"],
        "delivery_id": row["id"],
        "subscription_id": row["subscription_id"],
        "number": number,
        "outcome": "succeeded" if answer.succeeded else "failed",
        "status_code": answer.status_code,
        "error_code": answer.error_code,
        "duration_ms": answer.duration_ms,
        "response_snippet": answer.snippet,
        "attempted_at": attempted_at,
        "next_attempt_at": values["next_attempt_at"],
    }
    record = Outcome(row["id"], row["job_seq"], values, attempt, disable, GONE_REASON, now)
    try:
        owned = await delivery_store(runtime).record(record)
    except DB_UNAVAILABLE_ERRORS as exc:
        # The POST may have happened: redoing the job resends it (at-least-once, same webhook-id).
        raise Retry(defer=backoff_seconds(1, base=2.0, cap=60.0)) from exc
    if not owned:
        return "skipped"  # a replay or deletion moved the delivery on meanwhile
    DELIVERY_ATTEMPTS.labels(outcome=outcome).inc()
    if disable is not None:
        logger.warning(
            "subscription disabled after 410 Gone",
            extra={"subscription_id": disable, "delivery_id": row["id"]},
        )
    await runtime.dispatch(jobs)
    return outcome
