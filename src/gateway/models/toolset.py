from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.kit.encrypted_fields import encrypted_column
from gateway.models.base import ts_column, utcnow


class Toolset(SQLModel, table=True):
    """An imported OpenAPI document: its custom tools live in ``custom_tools``.

    ``auth_type``: none | api_key | basic | oauth_connection. The non-secret half of the binding
    (``auth_in``/``auth_name`` for API keys, ``connection_id``) is in clear; the secret half (API
    key value, basic username and password) is a keyring ciphertext in ``auth_secret_enc``.
    ``version`` increases on every change, so cached tool definitions know when they are stale.
    """

    __tablename__ = "toolsets"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_toolsets_tenant_name"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=40)
    name: str = Field(max_length=40)
    title: str | None = Field(default=None, max_length=200)
    openapi_version: str = Field(max_length=16)
    server_url: str = Field(max_length=2000)
    auth_type: str = Field(default="none", max_length=32)
    auth_in: str | None = Field(default=None, max_length=16)
    auth_name: str | None = Field(default=None, max_length=200)
    auth_secret_enc: str | None = Field(default=None, sa_column=encrypted_column(nullable=True))
    connection_id: str | None = Field(default=None, max_length=40)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
