from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class SandboxMessage(SQLModel, table=True):
    """Sandbox platform: a chat message in a tenant's sandbox workspace.

    ``sender_kind`` is ``user`` (posted through ``/sandbox/api/simulate``, delivered to the
    gateway as a webhook) or ``app`` (posted by a connected app with an access token).
    """

    __tablename__ = "sandbox_messages"
    __table_args__ = (
        sa.Index("ix_sandbox_messages_tenant_conversation_id", "tenant_id", "conversation", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    conversation: str = Field(max_length=200)
    thread_id: str | None = Field(default=None, max_length=64)
    text: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    sender_id: str = Field(max_length=100)
    sender_name: str | None = Field(default=None, max_length=200)
    sender_kind: str = Field(max_length=16)  # user | app
    grant_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
