from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.kit.encrypted_fields import encrypted_column
from gateway.models.base import ts_column, utcnow


class OAuthState(SQLModel, table=True):
    """One authorization request in flight (RFC 6749 ``state``, RFC 7636 PKCE).

    Only hashes of the ``state`` value and of the browser-binding cookie are stored; the PKCE
    verifier is a keyring ciphertext bound to this row. ``provider`` (and ``issuer`` when known)
    is the mix-up defence: the callback must arrive on this provider's route. Consumed once,
    atomically, by setting ``consumed_at``.
    """

    __tablename__ = "oauth_states"
    __table_args__ = (sa.UniqueConstraint("state_hash", name="uq_oauth_states_state_hash"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=40)
    provider: str = Field(max_length=64)
    state_hash: str = Field(max_length=64)
    browser_hash: str = Field(max_length=64)
    code_verifier_enc: str | None = Field(default=None, sa_column=encrypted_column(nullable=True))
    redirect_uri: str = Field(max_length=2000)
    issuer: str | None = Field(default=None, max_length=2000)
    return_to: str | None = Field(default=None, max_length=2000)
    scopes: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    label: str | None = Field(default=None, max_length=200)
    expires_at: datetime = Field(sa_column=ts_column(index=True))
    consumed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
