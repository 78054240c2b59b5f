from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
