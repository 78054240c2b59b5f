from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.kit.encrypted_fields import encrypted_column
from gateway.models.base import ts_column, utcnow


class WebhookEndpoint(SQLModel, table=True):
    """A per-provider receiving URL. The whole config (secrets included) is encrypted in
    ``config_enc``; ``config_public`` repeats only the non-secret keys for display. After a
    secret rotation the previous config keeps verifying until ``previous_valid_until``."""

    __tablename__ = "webhook_endpoints"

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=40)
    provider: str = Field(max_length=64)
    description: str | None = Field(default=None, max_length=500)
    connection_id: str | None = Field(default=None, max_length=40)
    enabled: bool = Field(default=True)
    config_enc: str = Field(sa_column=encrypted_column())
    config_public: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    previous_config_enc: str | None = Field(default=None, sa_column=encrypted_column(nullable=True))
    previous_valid_until: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
