from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.kit.encrypted_fields import encrypted_column
from gateway.models.base import ts_column, utcnow


class Event(SQLModel, table=True):
    """One received event: the durable inbox row *and*, once processed, the unified event.

    Inserted (status ``pending``) and committed before the platform gets its 2xx; the unique
    ``(endpoint_id, provider_event_id)`` drops duplicates. The raw payload is encrypted.
    ``status``: pending | processing | processed | dead. Connection lifecycle events
    (``connection.*``) are rows here too, without an endpoint.
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "provider_event_id", name="uq_events_endpoint_dedup"),
        sa.Index("ix_events_tenant_id_id", "tenant_id", "id"),
        sa.Index("ix_events_status_lease", "status", "lease_until"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    endpoint_id: str | None = Field(default=None, max_length=40)
    connection_id: str | None = Field(default=None, max_length=40)
    provider: str = Field(max_length=64)
    provider_event_id: str = Field(max_length=200)
    raw_type: str | None = Field(default=None, max_length=200)
    type: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=16)
    payload_enc: str = Field(sa_column=encrypted_column())
    data: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    occurred_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    lease_until: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    processed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
