"""act: toolsets, custom tools, tool invocation log, idempotency records

Revision ID: 0005_act
Revises: 0002_core
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.models.base import UTCDateTime

revision: str = "0005_act"
down_revision: str | Sequence[str] | None = "0002_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "toolsets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("openapi_version", sa.String(16), nullable=False),
        sa.Column("server_url", sa.String(2000), nullable=False),
        sa.Column("auth_type", sa.String(32), nullable=False),
        sa.Column("auth_in", sa.String(16), nullable=True),
        sa.Column("auth_name", sa.String(200), nullable=True),
        sa.Column("auth_secret_enc", sa.Text(), nullable=True),
        sa.Column("connection_id", sa.String(40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_toolsets_tenant_name"),
    )
    op.create_index("ix_toolsets_tenant_id", "toolsets", ["tenant_id"])

    op.create_table(
        "custom_tools",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column(
            "toolset_id",
            sa.String(40),
            sa.ForeignKey("toolsets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("operation_id", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(2000), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("bindings", sa.JSON(), nullable=False),
        sa.Column("authenticated", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_custom_tools_tenant_name"),
    )
    op.create_index("ix_custom_tools_toolset_id", "custom_tools", ["toolset_id"])

    op.create_table(
        "tool_invocations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("tool", sa.String(120), nullable=False),
        sa.Column("toolset_id", sa.String(40), nullable=True),
        sa.Column("connection_id", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("error_message", sa.String(500), nullable=True),
        sa.Column("platform_code", sa.String(100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("request_method", sa.String(10), nullable=True),
        sa.Column("request_target", sa.String(2000), nullable=True),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_tool_invocations_tenant_id_id", "tool_invocations", ["tenant_id", "id"])

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("invocation_id", sa.String(40), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "key", name="uq_idempotency_records_tenant_key"),
    )
    op.create_index("ix_idempotency_records_created_at", "idempotency_records", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_records")
    op.drop_table("tool_invocations")
    op.drop_table("custom_tools")
    op.drop_table("toolsets")
