"""The receive path: endpoint lookup → verify over the raw bytes → durable inbox row → answer.

    POST|GET /webhooks/{provider}/{endpoint_id}
      endpoint (cached) missing / disabled / other provider ──► 404
      verify(current config, previous config while its overlap lasts)
        ├─ SignatureInvalid ──► 401 (verifier's code)     BadRequest ──► 400
        ├─ handshake ─────────► the platform's exact answer, nothing stored
        ├─ flood ceiling or daily events quota reached ──► 429 + Retry-After, nothing stored
        └─ event ─► row into the group-commit batcher ─► committed ─► ack (or 200 {"ok":true})
                                                  └── not committed ─► 503, nothing acknowledged

The dedup key is the platform's event id, else the SHA-256 of the raw body. The stored payload
is the verified, decrypted document (what ``raw`` shows and what the normaliser reads later),
encrypted and bound to its row. Per-process state (endpoint cache, batcher, verification clock)
lives in :class:`IngestState`, created by the receiver router's lifespan.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from prometheus_client import Counter
from pydantic import BaseModel

from gateway.events.states import PENDING_GRACE_SECONDS, PROCESS_EVENT_BATCH, EventStatus
from gateway.kit.crypto import FieldContext
from gateway.kit.errors import (
    BadRequest,
    DecryptionFailed,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    SignatureInvalid,
)
from gateway.kit.ids import new_id
from gateway.kit.metrics import WEBHOOKS_ACCEPTED, WEBHOOKS_DUPLICATE, WEBHOOKS_REJECTED
from gateway.kit.runtime import Runtime
from gateway.limits import service as limits_service
from gateway.models import WebhookEndpoint
from gateway.providers.registry import get_provider
from gateway.providers.webhooks import (
    HandshakeResponse,
    InboundRequest,
    VerifiedWebhook,
    sha256_hex,
)
from gateway.webhooks import repository
from gateway.webhooks.batcher import InboxBatcher, InboxUnavailable
from gateway.webhooks.endpoint_cache import EndpointCache, ReceivingEndpoint
from gateway.webhooks.service import load_configs, webhook_provider

logger = logging.getLogger(__name__)

STATE_KEY: Final = "webhooks.ingest"
MAX_EVENT_ID_LENGTH: Final = 200
#: After a failed enqueue, skip enqueue attempts this long (the sweeper covers the gap), so a
#: Redis outage does not add a connect timeout to every batch.
QUEUE_BACKOFF_SECONDS: Final = 1.0
ENQUEUE_INTERVAL_SECONDS: Final = 0.025
MAX_IDS_PER_JOB: Final = 500

Clock = Callable[[], float]


class IngestState:
    """Per-process receive machinery; ``clock`` (unix seconds) is replaceable for tests."""

    def __init__(self, runtime: Runtime, *, clock: Clock = time.time) -> None:
        self.runtime = runtime
        self.clock = clock
        self.endpoints = EndpointCache(self._fetch, self._build)
        self.inbox = InboxBatcher(
            runtime.engine,
            self._after_commit,
            window_seconds=runtime.settings.ingest_batch_window_seconds,
        )
        self._queue_retry_at = 0.0
        self._to_enqueue: list[str] = []
        self._enqueuer: asyncio.Task[None] | None = None

    async def _fetch(self, endpoint_id: str) -> WebhookEndpoint | None:
        async with self.runtime.sessionmaker() as session:
            return await repository.get_endpoint(session, endpoint_id)

    def _build(self, row: WebhookEndpoint) -> ReceivingEndpoint:
        provider, _ = webhook_provider(row.provider)
        try:
            configs = load_configs(self.runtime.keyring, row)
        except (DecryptionFailed, ValueError) as exc:
            # The platform retries a 503; a stored event is never lost over a key problem.
            logger.error("webhook endpoint %s config unusable: %s", row.id, type(exc).__name__)
            raise ServiceUnavailable(
                "endpoint configuration cannot be read", code="endpoint_config_unavailable"
            ) from None
        until = row.previous_valid_until
        return ReceivingEndpoint(
            id=row.id,
            tenant_id=row.tenant_id,
            provider=provider,
            connection_id=row.connection_id,
            enabled=row.enabled,
            configs=configs,
            updated_at=row.updated_at,
            previous_valid_until=until.timestamp() if until is not None else None,
        )

    async def _after_commit(self, rows: list[dict[str, Any]]) -> None:
        """After a batch commit: queue its ids for the next job (coalesced, see below), then
        count the new events against their tenants' daily quotas (duplicates never count)."""
        self._to_enqueue.extend(row["id"] for row in rows)
        if self._enqueuer is None or self._enqueuer.done():
            self._enqueuer = asyncio.get_running_loop().create_task(self._send_jobs())
        await limits_service.count_usage(
            self.runtime, "events", collections.Counter(row["tenant_id"] for row in rows)
        )

    async def _send_jobs(self) -> None:
        """One ``process_event_batch`` job per ``ENQUEUE_INTERVAL_SECONDS`` at most, carrying
        every id committed meanwhile: a Redis round trip costs far more than an insert row, so
        it is shared by as many events as possible. Ids that cannot be sent are left to the
        sweeper (they are committed; only their prompt processing is lost)."""
        while self._to_enqueue:
            await asyncio.sleep(ENQUEUE_INTERVAL_SECONDS)
            event_ids = self._to_enqueue[:MAX_IDS_PER_JOB]
            del self._to_enqueue[:MAX_IDS_PER_JOB]
            queue = self.runtime.queue
            if queue is None or time.monotonic() < self._queue_retry_at:
                continue
            try:
                sent = await queue.enqueue(
                    PROCESS_EVENT_BATCH, event_ids, job_id=f"evb_{event_ids[0]}"
                )
            except Exception:
                logger.exception("enqueue of %d committed events failed", len(event_ids))
                sent = False
            if not sent:
                self._queue_retry_at = time.monotonic() + QUEUE_BACKOFF_SECONDS

    async def wait_idle(self) -> None:
        """Until every committed batch has had its job sent (tests, shutdown)."""
        await self.inbox.wait_idle()
        while self._enqueuer is not None and not self._enqueuer.done():
            await self._enqueuer
            await self.inbox.wait_idle()

    async def close(self) -> None:
        await self.inbox.close()
        if self._enqueuer is not None:
            await self._enqueuer


def ingest_state(runtime: Runtime) -> IngestState | None:
    state: IngestState | None = runtime.extras.get(STATE_KEY)
    return state


@functools.cache
def _counter(metric: Counter, provider: str) -> Counter:
    """A metric's child for one provider, looked up once (``labels()`` costs a lock and a
    tuple per call on the hot path)."""
    return metric.labels(provider)


def _reject(provider: str, reason: str) -> None:
    WEBHOOKS_REJECTED.labels(provider, reason).inc()


async def receive(
    state: IngestState,
    provider_name: str,
    endpoint_id: str,
    method: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
) -> HandshakeResponse | None:
    """Verify and durably store one delivery; returns the answer (None = 200 ``{"ok":true}``).

    Raises NotFound (404), SignatureInvalid (401), BadRequest (400) or ServiceUnavailable (503).
    """
    wanted = get_provider(provider_name)
    endpoint = await state.endpoints.get(endpoint_id) if wanted is not None else None
    if endpoint is None or wanted is None or not endpoint.enabled:
        _reject(wanted.id if wanted is not None else "unknown", "unknown_endpoint")
        raise NotFound("no such webhook endpoint", code="webhook_endpoint_not_found")
    provider = endpoint.provider
    if wanted.id != provider.id:
        _reject(wanted.id, "unknown_endpoint")
        raise NotFound("no such webhook endpoint", code="webhook_endpoint_not_found")

    now = state.clock()
    configs = endpoint.configs
    previous: tuple[BaseModel, ...] = ()
    if configs.previous is not None and (endpoint.previous_valid_until or 0.0) > now:
        previous = (configs.previous,)
    request = InboundRequest(method=method, headers=headers, query=query, body=body, now=now)
    assert provider.verifier is not None  # the cache only holds webhook providers
    try:
        verified = provider.verifier.verify(request, configs.current, previous)
    except SignatureInvalid as exc:
        _reject(provider.id, exc.code)
        raise
    except BadRequest as exc:
        _reject(provider.id, exc.code)
        raise
    if verified.handshake is not None:
        return verified.handshake
    # Counted only once the signature verified: unsigned junk cannot spend a sender's budget.
    try:
        await limits_service.check_webhook_flood(state.runtime, endpoint.tenant_id, endpoint.id)
    except RateLimited:
        _reject(provider.id, "rate_limited")
        raise
    try:
        await limits_service.check_quota(state.runtime, endpoint.tenant_id, "events")
    except RateLimited:
        _reject(provider.id, "quota_exceeded")
        raise

    row = _inbox_row(endpoint, verified.provider_event_id, verified.event_type, body)
    where = FieldContext("events", "payload_enc", row["id"], endpoint.tenant_id)
    row["payload_enc"] = state.runtime.keyring.encrypt(_payload_text(verified), where)
    try:
        is_new = await state.inbox.submit(row)
    except InboxUnavailable:
        _reject(provider.id, "store_unavailable")
        raise ServiceUnavailable(
            "the event could not be stored; nothing was acknowledged, retry later",
            code="database_unavailable",
            headers={"Retry-After": "5"},
        ) from None
    _counter(WEBHOOKS_ACCEPTED if is_new else WEBHOOKS_DUPLICATE, provider.id).inc()
    return verified.ack


def _payload_text(verified: VerifiedWebhook) -> str:
    """The stored document: the verified body as received when it is the JSON itself (strict
    UTF-8 JSON text cannot hold a raw NUL or a lone surrogate), else the parsed payload."""
    if verified.document is not None:
        try:
            return verified.document.decode("utf-8")
        except UnicodeDecodeError:  # UTF-16/32 JSON, which json.loads also accepts
            pass
    return json.dumps(verified.payload, separators=(",", ":"))


def _storable(text: str) -> bool:
    """PostgreSQL text refuses NUL and lone surrogates: one such row would fail its batch."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _inbox_row(
    endpoint: ReceivingEndpoint,
    provider_event_id: str | None,
    raw_type: str | None,
    body: bytes,
) -> dict[str, Any]:
    dedup_key = provider_event_id or sha256_hex(body)
    if len(dedup_key) > MAX_EVENT_ID_LENGTH or not _storable(dedup_key):
        dedup_key = "sha256:" + sha256_hex(dedup_key.encode("utf-8", "surrogatepass"))
    if raw_type is not None and not _storable(raw_type):
        raw_type = raw_type.encode("utf-8", "replace").decode().replace("\x00", "")
    received_at = datetime.now(UTC)
    return {
        "id": new_id("evt"),
        "tenant_id": endpoint.tenant_id,
        "endpoint_id": endpoint.id,
        "connection_id": endpoint.connection_id,
        "provider": endpoint.provider.id,
        "provider_event_id": dedup_key,
        "raw_type": raw_type[:200] if raw_type else None,
        "status": EventStatus.PENDING.value,
        "attempts": 0,
        "received_at": received_at,
        "lease_until": received_at + timedelta(seconds=PENDING_GRACE_SECONDS),
    }
