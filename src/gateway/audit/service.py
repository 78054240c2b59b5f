"""The audit trail: one row per connection lifecycle step or credential setting change.

Other domains call :func:`record` inside their own transaction, so an audit row exists exactly
when the change it describes was committed. ``detail`` must never hold a secret.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit import repository
from gateway.kit.ids import new_id
from gateway.kit.pagination import PageParams
from gateway.models import AuditRecord

Outcome = Literal["success", "failure"]


async def record(
    session: AsyncSession,
    tenant_id: str,
    action: str,
    outcome: Outcome,
    *,
    provider: str | None = None,
    connection_id: str | None = None,
    error_code: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Add an audit record to the caller's transaction (flushed, not committed)."""
    row = AuditRecord(
        id=new_id("aud"),
        tenant_id=tenant_id,
        provider=provider,
        connection_id=connection_id,
        action=action,
        outcome=outcome,
        error_code=error_code,
        detail=dict(detail or {}),
    )
    session.add(row)
    await session.flush()
    return row


async def list_records(
    session: AsyncSession,
    tenant_id: str,
    params: PageParams,
    *,
    connection_id: str | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    return await repository.list_page(
        session, tenant_id, params, connection_id=connection_id, action=action
    )
