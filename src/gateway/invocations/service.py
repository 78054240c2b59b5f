"""Invocation log: building the row (redacted, truncated) and reading it back."""

from __future__ import annotations

from typing import Any, Final

from gateway.invocations.schemas import (
    InvocationError,
    InvocationOut,
    InvocationRequest,
    InvocationResponse,
)
from gateway.models import ToolInvocation

#: Bodies are kept up to this many characters.
BODY_LIMIT: Final = 2048
_TRUNCATED: Final = "…[truncated]"
_SCRUBBED: Final = "***"


def excerpt(body: bytes | str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """At most ``BODY_LIMIT`` characters of ``body``, every secret replaced by ``***``; None for
    an empty body."""
    if not body:
        return None
    raw = body[: BODY_LIMIT * 4] if isinstance(body, bytes) else body[: BODY_LIMIT * 2]
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, _SCRUBBED)
    if len(text) > BODY_LIMIT or len(raw) < len(body):
        return text[:BODY_LIMIT] + _TRUNCATED
    return text


def to_out(row: ToolInvocation) -> InvocationOut:
    error = (
        InvocationError(
            code=row.error_code, message=row.error_message, platform_code=row.platform_code
        )
        if row.error_code
        else None
    )
    return InvocationOut(
        id=row.id,
        tool=row.tool,
        toolset_id=row.toolset_id,
        connection_id=row.connection_id,
        outcome="ok" if row.outcome == "ok" else "error",
        status_code=row.status_code,
        error=error,
        attempts=row.attempts,
        duration_ms=row.duration_ms,
        request=InvocationRequest(
            method=row.request_method, target=row.request_target, body=row.request_body
        ),
        response=InvocationResponse(status_code=row.status_code, body=row.response_body),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
    )


def row_values(**values: Any) -> dict[str, Any]:
    """Column values for ``repository.insert``: strings cut to their column sizes, and any lone
    surrogate (an upstream's ``"\\ud800"`` escape, parsed into an error message) replaced, as no
    database can store one: the batch would fail on every retry, or (SQLite) the row would
    break every read of the log."""
    for column, value in values.items():
        if isinstance(value, str) and not value.isascii():
            values[column] = value.encode("utf-8", "replace").decode("utf-8")
    for column, limit in (
        ("error_code", 100),
        ("error_message", 500),
        ("platform_code", 100),
        ("request_target", 2000),
    ):
        value = values.get(column)
        if isinstance(value, str) and len(value) > limit:
            values[column] = value[:limit]
    return values
