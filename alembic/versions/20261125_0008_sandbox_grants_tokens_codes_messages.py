"""sandbox: the built-in sandbox platform's grants, tokens, authorization codes and messages

Revision ID: 0008_sandbox
Revises: 0002_core
Create Date: 2026-11-25

On SQLite (embedded mode) the sandbox keeps these tables in a sibling database file instead
(``gateway.sandbox.store``), created from the same models; here they exist for PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.models.base import UTCDateTime

revision: str = "0008_sandbox"
down_revision: str | Sequence[str] | None = "0002_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_grants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(512), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_sandbox_grants_tenant_id", "sandbox_grants", ["tenant_id"])
    op.create_table(
        "sandbox_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column(
            "grant_id",
            sa.String(40),
            sa.ForeignKey("sandbox_grants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("rotated_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_sandbox_tokens_token_hash"),
    )
    op.create_index("ix_sandbox_tokens_grant_id", "sandbox_tokens", ["grant_id"])
    op.create_table(
        "sandbox_authorization_codes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(512), nullable=False),
        sa.Column("redirect_uri", sa.String(2000), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("code_hash", name="uq_sandbox_authorization_codes_code_hash"),
    )
    op.create_index(
        "ix_sandbox_authorization_codes_expires_at", "sandbox_authorization_codes", ["expires_at"]
    )
    op.create_table(
        "sandbox_messages",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("conversation", sa.String(200), nullable=False),
        sa.Column("thread_id", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.String(100), nullable=False),
        sa.Column("sender_name", sa.String(200), nullable=True),
        sa.Column("sender_kind", sa.String(16), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_sandbox_messages_tenant_conversation_id",
        "sandbox_messages",
        ["tenant_id", "conversation", "id"],
    )


def downgrade() -> None:
    op.drop_table("sandbox_messages")
    op.drop_table("sandbox_authorization_codes")
    op.drop_table("sandbox_tokens")
    op.drop_table("sandbox_grants")
