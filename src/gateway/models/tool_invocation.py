from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class ToolInvocation(SQLModel, table=True):
    """One tool call, as the invocation log shows it.

    Never holds credentials: ``request_target`` is the redacted URL (``redact_url`` plus the
    toolset's API-key parameter), auth headers are not recorded, and both bodies are truncated
    and scrubbed of every secret that was in play. ``outcome``: ok | error.
    """

    __tablename__ = "tool_invocations"
    __table_args__ = (sa.Index("ix_tool_invocations_tenant_id_id", "tenant_id", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    tool: str = Field(max_length=120)
    toolset_id: str | None = Field(default=None, max_length=40)
    connection_id: str | None = Field(default=None, max_length=40)
    outcome: str = Field(max_length=16)
    status_code: int | None = Field(default=None)
    error_code: str | None = Field(default=None, max_length=100)
    error_message: str | None = Field(default=None, max_length=500)
    platform_code: str | None = Field(default=None, max_length=100)
    attempts: int = Field(default=0)
    duration_ms: float = Field(default=0.0)
    request_method: str | None = Field(default=None, max_length=10)
    request_target: str | None = Field(default=None, max_length=2000)
    request_body: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    response_body: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    idempotency_key: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
