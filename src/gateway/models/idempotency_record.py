from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class IdempotencyRecord(SQLModel, table=True):
    """An ``Idempotency-Key`` seen on ``POST /v1/tools/{name}/invoke``.

    Claimed (``status`` in_progress) in its own short transaction before the call, so a
    concurrent retry with the same key sees it; completed with the stored result after.
    ``request_hash`` is a SHA-256 of the tool name and canonical request body: the same key with
    a different body is refused. Rows expire after a day (``tools.purge_idempotency``).
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "key", name="uq_idempotency_records_tenant_key"),
    )

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status: str = Field(default="in_progress", max_length=16)
    invocation_id: str | None = Field(default=None, max_length=40)
    result: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON(), nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(index=True))
