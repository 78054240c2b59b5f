from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class SandboxGrant(SQLModel, table=True):
    """Sandbox platform: one approved authorization (a consent), the family its tokens share.

    ``tenant_id`` is the gateway tenant whose sandbox workspace was connected. Revoking the grant
    (RFC 7009 revocation, a reused refresh token, a reused authorization code) kills every token
    issued under it; ``revoked_reason`` says which.
    """

    __tablename__ = "sandbox_grants"
    __table_args__ = (sa.Index("ix_sandbox_grants_tenant_id", "tenant_id"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    client_id: str = Field(max_length=512)
    scopes: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    revoked_reason: str | None = Field(default=None, max_length=32)
