from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class TenantLimits(SQLModel, table=True):
    """One tenant's overrides of the configured rate limits and quotas.

    ``NULL`` = use the deployment default (``GATEWAY_*`` settings); ``0`` = unlimited; a positive
    number is the limit. Set with ``gateway tenants limits NAME``.
    """

    __tablename__ = "tenant_limits"

    tenant_id: str = Field(
        sa_column=sa.Column(
            sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
        )
    )
    api_rpm: int | None = Field(default=None, ge=0)
    api_key_rpm: int | None = Field(default=None, ge=0)
    webhook_rps: int | None = Field(default=None, ge=0)
    events_per_day: int | None = Field(default=None, ge=0)
    invocations_per_day: int | None = Field(default=None, ge=0)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
