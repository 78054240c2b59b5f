"""``Idempotency-Key`` on tool invocations.

The key is *claimed* in its own short transaction before anything is sent, so a concurrent retry
with the same key finds it (PostgreSQL makes a conflicting insert wait for the claimer's commit;
SQLite serialises writers) instead of calling the platform a second time:

    no record                      → claim it, invoke, store the result with the invocation log
    record, same request hash      → completed: the stored result; in progress: 409
    record, other request hash     → 422 ``idempotency_key_reused``
    record older than its lifetime → treated as absent (in progress: the claimer died)

If the invocation fails before producing a result (404, 422, 409 from the connection), the claim
is released so the caller can fix the request and retry with the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.errors import BadRequest, Conflict, ValidationFailed
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import IdempotencyRecord
from gateway.models.base import utcnow
from gateway.tools import repository
from gateway.tools.schemas import InvokeRequest, InvokeResult

RESULT_LIFETIME: Final = timedelta(hours=24)
#: A claim older than this belongs to a request that died (total call budget + margin).
CLAIM_LIFETIME: Final = timedelta(minutes=5)
_KEY: Final = re.compile(r"[\x21-\x7e]{1,255}")


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise BadRequest(
            "Idempotency-Key must be 1-255 printable ASCII characters",
            code="invalid_idempotency_key",
        )
    return key


def request_hash(tool: str, body: InvokeRequest) -> str:
    canonical = json.dumps(
        [tool, body.connection_id, body.parameters],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _expired(record: IdempotencyRecord) -> bool:
    lifetime = CLAIM_LIFETIME if record.status == "in_progress" else RESULT_LIFETIME
    return record.created_at < utcnow() - lifetime


async def claim(
    runtime: Runtime, tenant_id: str, key: str, digest: str
) -> tuple[str | None, InvokeResult | None]:
    """``(claim id, None)`` when the key is ours now, ``(None, stored result)`` to replay.

    Raises ``ValidationFailed`` (key reused with another body) or ``Conflict`` (in progress).
    """
    for _ in range(3):
        async with runtime.sessionmaker() as session:
            record = await repository.get_idempotency_record(session, tenant_id, key)
            if record is not None and _expired(record):
                await repository.delete_idempotency_record(session, record.id)
                record = None
            if record is not None:
                return None, _replay(record, digest)
            claim_id = new_id("idem")
            session.add(
                IdempotencyRecord(id=claim_id, tenant_id=tenant_id, key=key, request_hash=digest)
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                continue  # a concurrent request claimed it first: read its record
            return claim_id, None
    raise Conflict("the idempotency key is contended; retry", code="idempotency_key_contended")


def _replay(record: IdempotencyRecord, digest: str) -> InvokeResult:
    if record.request_hash != digest:
        raise ValidationFailed(
            "this Idempotency-Key was used with a different request",
            code="idempotency_key_reused",
        )
    if record.status != "completed" or record.result is None:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress",
            code="idempotency_request_in_progress",
            headers={"Retry-After": "1"},
        )
    return InvokeResult.model_validate(record.result)


async def complete(session: AsyncSession, claim_id: str, result: InvokeResult) -> None:
    """Store the result in the request's transaction (with the invocation log row)."""
    stored: dict[str, Any] = result.model_dump(mode="json")
    await repository.complete_idempotency_record(session, claim_id, result.invocation_id, stored)


async def release(runtime: Runtime, claim_id: str) -> None:
    """Drop an unfinished claim (the request failed before producing a result)."""
    async with runtime.sessionmaker() as session:
        await repository.delete_idempotency_record(session, claim_id, only_in_progress=True)
        await session.commit()


async def purge_expired(session: AsyncSession) -> int:
    return await repository.purge_idempotency_records(session, utcnow() - RESULT_LIFETIME)
