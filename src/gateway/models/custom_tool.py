from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.models.base import ts_column, utcnow


class CustomTool(SQLModel, table=True):
    """One operation of an imported toolset, named ``{toolset}.{operationId}``.

    ``parameters`` is the JSON Schema handed to callers (and LLMs); ``bindings`` says where each
    parameter goes in the HTTP request (path, query, header, body). Deleted with its toolset.
    """

    __tablename__ = "custom_tools"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_custom_tools_tenant_name"),)

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=40)
    toolset_id: str = Field(
        sa_column=sa.Column(
            sa.String(40),
            sa.ForeignKey("toolsets.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    name: str = Field(max_length=120)
    operation_id: str = Field(max_length=100)
    description: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False))
    method: str = Field(max_length=10)
    path: str = Field(max_length=2000)
    parameters: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    bindings: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    authenticated: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
