from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class ConnectSession(SQLModel, table=True):
    """A one-time link created by ``POST /v1/connections/{provider}/authorize``.

    The link carries a random token; only its SHA-256 hash is stored. ``GET /oauth/{provider}/
    start`` consumes the row atomically (``consumed_at``) and turns it into an :class:`OAuthState`.
    """

    __tablename__ = "connect_sessions"
    __table_args__ = (sa.UniqueConstraint("token_hash", name="uq_connect_sessions_token_hash"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=40)
    provider: str = Field(max_length=64)
    token_hash: str = Field(max_length=64)
    return_to: str | None = Field(default=None, max_length=2000)
    scopes: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))
    authorize_params: dict[str, str] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    label: str | None = Field(default=None, max_length=200)
    expires_at: datetime = Field(sa_column=ts_column(index=True))
    consumed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
