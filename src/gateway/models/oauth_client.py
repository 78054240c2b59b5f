from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.kit.encrypted_fields import encrypted_column
from gateway.models.base import ts_column, utcnow

SYSTEM_OWNER = "system"


class OAuthClient(SQLModel, table=True):
    """An OAuth client for a provider: a tenant's own (``owner`` = tenant id) or the system's.

    ``client_secret_enc`` is a keyring ciphertext bound to this row and owner.
    """

    __tablename__ = "oauth_clients"
    __table_args__ = (sa.UniqueConstraint("owner", "provider", name="uq_oauth_clients_owner"),)

    id: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=40, index=True)
    provider: str = Field(max_length=64)
    client_id: str = Field(max_length=512)
    client_secret_enc: str = Field(sa_column=encrypted_column(tenant_column="owner"))
    scopes: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
