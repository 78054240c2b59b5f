from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class SandboxToken(SQLModel, table=True):
    """Sandbox platform: an access or refresh token. Only its SHA-256 hash is stored.

    A refresh token is single-use: ``rotated_at`` is set when it is exchanged; presenting it again
    revokes its grant (the whole token family).
    """

    __tablename__ = "sandbox_tokens"
    __table_args__ = (
        sa.UniqueConstraint("token_hash", name="uq_sandbox_tokens_token_hash"),
        sa.Index("ix_sandbox_tokens_grant_id", "grant_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    grant_id: str = Field(
        sa_column=sa.Column(
            sa.String(40), sa.ForeignKey("sandbox_grants.id", ondelete="CASCADE"), nullable=False
        )
    )
    kind: str = Field(max_length=16)  # access | refresh
    token_hash: str = Field(max_length=64)
    expires_at: datetime = Field(sa_column=ts_column())
    rotated_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
