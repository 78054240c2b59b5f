"""core: connections, webhook endpoints, events (inbox + unified), audit records

Revision ID: 0002_core
Revises: 0001_foundation
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.models.base import UTCDateTime

revision: str = "0002_core"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("auth_kind", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("account", sa.JSON(), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=True),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("credentials_enc", sa.Text(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("refresh_expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_refreshed_at", UTCDateTime(), nullable=True),
        sa.Column("last_error_code", sa.String(100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_connections_tenant_id", "connections", ["tenant_id"])
    op.create_index("ix_connections_provider", "connections", ["provider"])
    op.create_index("ix_connections_status", "connections", ["status"])

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("connection_id", sa.String(40), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config_enc", sa.Text(), nullable=False),
        sa.Column("config_public", sa.JSON(), nullable=False),
        sa.Column("previous_config_enc", sa.Text(), nullable=True),
        sa.Column("previous_valid_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_webhook_endpoints_tenant_id", "webhook_endpoints", ["tenant_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("endpoint_id", sa.String(40), nullable=True),
        sa.Column("connection_id", sa.String(40), nullable=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("provider_event_id", sa.String(200), nullable=False),
        sa.Column("raw_type", sa.String(200), nullable=True),
        sa.Column("type", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload_enc", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("endpoint_id", "provider_event_id", name="uq_events_endpoint_dedup"),
    )
    op.create_index("ix_events_tenant_id_id", "events", ["tenant_id", "id"])
    op.create_index("ix_events_status_lease", "events", ["status", "lease_until"])

    op.create_table(
        "audit_records",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("connection_id", sa.String(40), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_audit_records_tenant_id_id", "audit_records", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_records")
    op.drop_table("events")
    op.drop_table("webhook_endpoints")
    op.drop_table("connections")
