from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.kit.encrypted_fields import encrypted_column
from gateway.models.base import ts_column, utcnow


class Connection(SQLModel, table=True):
    """A tenant's authorised link to a platform account.

    Token columns hold keyring ciphertexts bound to this row; there is no plaintext twin.
    ``status``: active | refreshing | needs_reauth | revoked. ``version`` increases on every
    credential write (optimistic concurrency for refresh and key rotation).
    """

    __tablename__ = "connections"

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=40)
    provider: str = Field(max_length=64, index=True)
    auth_kind: str = Field(max_length=32)  # oauth2 | credentials | api_key | wecom_web_auth
    label: str | None = Field(default=None, max_length=200)
    status: str = Field(default="active", max_length=32, index=True)
    scopes: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    account: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False)
    )
    access_token_enc: str | None = Field(default=None, sa_column=encrypted_column(nullable=True))
    refresh_token_enc: str | None = Field(default=None, sa_column=encrypted_column(nullable=True))
    credentials_enc: str | None = Field(default=None, sa_column=encrypted_column(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    refresh_expires_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    last_refreshed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    last_error_code: str | None = Field(default=None, max_length=100)
    version: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
