from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class CustomProvider(SQLModel, table=True):
    """A tenant-registered OAuth 2.0 provider (``POST /v1/providers``); ids are tenant-scoped
    and never shadow a built-in provider. Holds no secret: the client is an ``OAuthClient``."""

    __tablename__ = "custom_providers"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "provider_id", name="uq_custom_providers_tenant_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=40)
    provider_id: str = Field(max_length=64)
    name: str = Field(max_length=100)
    authorization_url: str = Field(max_length=2000)
    token_url: str = Field(max_length=2000)
    revocation_url: str | None = Field(default=None, max_length=2000)
    issuer: str | None = Field(default=None, max_length=2000)
    scopes: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    scope_separator: str = Field(default=" ", max_length=4)
    pkce: bool = Field(default=True)
    token_auth_method: str = Field(default="client_secret_basic", max_length=32)
    extra_authorize_params: dict[str, str] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
