from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column


class DeliveryAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery: what the subscriber answered, how fast, what came next.

    ``status_code`` is None when no response arrived (``error_code`` says why: timeout,
    connection_error, destination_blocked, …). ``response_snippet`` is the start of the body.
    """

    __tablename__ = "delivery_attempts"
    __table_args__ = (
        sa.Index("ix_delivery_attempts_delivery_id_number", "delivery_id", "number"),
        sa.Index("ix_delivery_attempts_subscription_id", "subscription_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    delivery_id: str = Field(
        sa_column=sa.Column(
            sa.String(40), sa.ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False
        )
    )
    subscription_id: str = Field(max_length=40)
    number: int
    outcome: str = Field(max_length=16)  # succeeded | failed
    status_code: int | None = Field(default=None)
    error_code: str | None = Field(default=None, max_length=64)
    duration_ms: float
    response_snippet: str | None = Field(
        default=None, sa_column=sa.Column(sa.Text(), nullable=True)
    )
    attempted_at: datetime = Field(sa_column=ts_column())
    next_attempt_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
