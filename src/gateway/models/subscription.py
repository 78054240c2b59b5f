from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.kit.encrypted_fields import encrypted_column
from gateway.models.base import ts_column, utcnow


class Subscription(SQLModel, table=True):
    """An application's URL that receives unified events as Standard Webhooks.

    ``event_types`` holds patterns (``message.*``); ``providers`` / ``endpoint_ids`` are optional
    filters (``None``: any). The signing secret exists only as a keyring ciphertext bound to this
    row; after a rotation ``previous_secret_enc`` keeps signing (a second signature) until
    ``previous_secret_expires_at``. ``disabled_reason`` says why ``enabled`` is false.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (sa.Index("ix_subscriptions_tenant_id_id", "tenant_id", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=40)
    url: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    providers: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))
    endpoint_ids: list[str] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON(), nullable=True)
    )
    enabled: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, max_length=200)
    disabled_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    secret_enc: str = Field(sa_column=encrypted_column())
    previous_secret_enc: str | None = Field(default=None, sa_column=encrypted_column(nullable=True))
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_column=ts_column(nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
