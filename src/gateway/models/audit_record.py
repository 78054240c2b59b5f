from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class AuditRecord(SQLModel, table=True):
    """Who did what to which connection/endpoint, with the outcome. Never holds secrets."""

    __tablename__ = "audit_records"
    __table_args__ = (sa.Index("ix_audit_records_tenant_id_id", "tenant_id", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    provider: str | None = Field(default=None, max_length=64)
    connection_id: str | None = Field(default=None, max_length=40)
    action: str = Field(max_length=64)
    outcome: str = Field(max_length=32)
    error_code: str | None = Field(default=None, max_length=100)
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
