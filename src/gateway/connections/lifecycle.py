"""Connection lifecycle transitions: each writes an audit record and a ``connection.*`` event.

The event is stored already in unified form (``status`` processed, no endpoint) and handed to the
subscriptions fan-out in the same transaction, so it is delivered exactly when the transition
committed. Its payload is an encrypted ``{}``: lifecycle events carry no provider payload.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit import service as audit
from gateway.audit.service import Outcome
from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.ids import new_id
from gateway.models import Connection, Event
from gateway.models.base import utcnow
from gateway.subscriptions.fanout import fan_out

CONNECTION_CREATED: Final = "connection.created"
CONNECTION_REFRESHED: Final = "connection.refreshed"
CONNECTION_NEEDS_REAUTH: Final = "connection.needs_reauth"
CONNECTION_REVOKED: Final = "connection.revoked"


async def emit_event(
    session: AsyncSession, keyring: Keyring, connection: Connection, event_type: str
) -> Event:
    """Store a ``connection.*`` event for ``connection`` and fan it out to subscriptions."""
    now = utcnow()
    event = Event(
        id=new_id("evt"),
        tenant_id=connection.tenant_id,
        endpoint_id=None,
        connection_id=connection.id,
        provider=connection.provider,
        provider_event_id=new_id("cev"),
        raw_type=event_type,
        type=event_type,
        status="processed",
        payload_enc="",
        data={
            "connection": {
                "id": connection.id,
                "provider": connection.provider,
                "status": connection.status,
                "label": connection.label,
            }
        },
        received_at=now,
        occurred_at=now,
        processed_at=now,
    )
    where = FieldContext("events", "payload_enc", event.id, event.tenant_id)
    event.payload_enc = keyring.encrypt("{}", where)
    session.add(event)
    await session.flush()
    await fan_out(session, event)
    return event


async def transition(
    session: AsyncSession,
    keyring: Keyring,
    connection: Connection,
    *,
    action: str,
    outcome: Outcome,
    event_type: str | None = None,
    error_code: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit ``action`` on ``connection`` and, for a status transition, emit its event."""
    await audit.record(
        session,
        connection.tenant_id,
        action,
        outcome,
        provider=connection.provider,
        connection_id=connection.id,
        error_code=error_code,
        detail=detail,
    )
    if event_type is not None:
        await emit_event(session, keyring, connection, event_type)
