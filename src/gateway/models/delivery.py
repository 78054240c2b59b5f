from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class Delivery(SQLModel, table=True):
    """One event on its way to one subscription (unique per pair).

    ``status``: pending (an attempt is due at ``next_attempt_at``) | succeeded | dead (retry
    schedule exhausted, 410 Gone, or the subscription was disabled; retryable).
    ``attempts`` counts attempts made, ``max_attempts`` is where the delivery dies.
    ``job_seq`` names the one queue job allowed to make the next attempt (job id = delivery id,
    then ``{id}.{job_seq}``): a stale or duplicate job finds a different number and does nothing.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
        sa.Index("ix_deliveries_subscription_id_id", "subscription_id", "id"),
        sa.Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_deliveries_event_id", "event_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    subscription_id: str = Field(
        sa_column=sa.Column(
            sa.String(40), sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False
        )
    )
    event_id: str = Field(
        sa_column=sa.Column(
            sa.String(40), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
        )
    )
    event_type: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=8)
    job_seq: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    completed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
