from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class ApiKeyCreate(BaseModel):
    label: str | None = Field(default=None, max_length=100)


class ApiKeyOut(BaseModel):
    id: str
    prefix: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="The key itself. Shown only in this response.")
