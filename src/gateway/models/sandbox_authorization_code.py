from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class SandboxAuthorizationCode(SQLModel, table=True):
    """Sandbox platform: an authorization code (hash only), single-use, valid five minutes.

    Bound to the client, the exact ``redirect_uri`` and the PKCE S256 ``code_challenge`` of the
    authorization request. ``grant_id`` is the grant it was exchanged for: a second exchange of
    the same code revokes that grant (RFC 6749 §4.1.2).
    """

    __tablename__ = "sandbox_authorization_codes"
    __table_args__ = (
        sa.UniqueConstraint("code_hash", name="uq_sandbox_authorization_codes_code_hash"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    code_hash: str = Field(max_length=64)
    client_id: str = Field(max_length=512)
    redirect_uri: str = Field(max_length=2000)
    scopes: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    code_challenge: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=ts_column(index=True))
    used_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    grant_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
