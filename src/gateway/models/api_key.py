from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class ApiKey(SQLModel, table=True):
    """A tenant API key. Only a SHA-256 hash is stored; ``prefix`` finds the row."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=40)
    prefix: str = Field(max_length=16, unique=True, index=True)
    key_hash: str = Field(max_length=64)
    label: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
