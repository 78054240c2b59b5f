from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditRecordOut(BaseModel):
    """Who did what to which connection or provider setting, and how it ended."""

    id: str
    provider: str | None
    connection_id: str | None
    action: str = Field(description="e.g. `connection.connect`, `connection.refresh`")
    outcome: str = Field(description="`success` or `failure`")
    error_code: str | None = Field(description="Stable reason code when the outcome is a failure")
    detail: dict[str, Any]
    created_at: datetime
