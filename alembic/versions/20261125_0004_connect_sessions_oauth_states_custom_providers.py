"""connect: one-time connect sessions, OAuth states, custom OAuth providers

Revision ID: 0004_connect
Revises: 0002_core
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.models.base import UTCDateTime

revision: str = "0004_connect"
down_revision: str | Sequence[str] | None = "0002_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connect_sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("return_to", sa.String(2000), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=True),
        sa.Column("authorize_params", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_connect_sessions_token_hash"),
    )
    op.create_index("ix_connect_sessions_tenant_id", "connect_sessions", ["tenant_id"])
    op.create_index("ix_connect_sessions_expires_at", "connect_sessions", ["expires_at"])

    op.create_table(
        "oauth_states",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("code_verifier_enc", sa.Text(), nullable=True),
        sa.Column("redirect_uri", sa.String(2000), nullable=False),
        sa.Column("issuer", sa.String(2000), nullable=True),
        sa.Column("return_to", sa.String(2000), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("state_hash", name="uq_oauth_states_state_hash"),
    )
    op.create_index("ix_oauth_states_tenant_id", "oauth_states", ["tenant_id"])
    op.create_index("ix_oauth_states_expires_at", "oauth_states", ["expires_at"])

    op.create_table(
        "custom_providers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("authorization_url", sa.String(2000), nullable=False),
        sa.Column("token_url", sa.String(2000), nullable=False),
        sa.Column("revocation_url", sa.String(2000), nullable=True),
        sa.Column("issuer", sa.String(2000), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("scope_separator", sa.String(4), nullable=False),
        sa.Column("pkce", sa.Boolean(), nullable=False),
        sa.Column("token_auth_method", sa.String(32), nullable=False),
        sa.Column("extra_authorize_params", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "provider_id", name="uq_custom_providers_tenant_id"),
    )
    op.create_index("ix_custom_providers_tenant_id", "custom_providers", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("custom_providers")
    op.drop_table("oauth_states")
    op.drop_table("connect_sessions")
