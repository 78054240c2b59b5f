"""limits: per-tenant overrides of API rate limits, webhook flood ceilings and daily quotas

Revision ID: 0007_limits
Revises: 0002_core
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.models.base import UTCDateTime

revision: str = "0007_limits"
down_revision: str | Sequence[str] | None = "0002_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_limits",
        sa.Column(
            "tenant_id",
            sa.String(40),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        # NULL = the deployment default, 0 = unlimited, N = the limit.
        sa.Column("api_rpm", sa.Integer(), nullable=True),
        sa.Column("api_key_rpm", sa.Integer(), nullable=True),
        sa.Column("webhook_rps", sa.Integer(), nullable=True),
        sa.Column("events_per_day", sa.Integer(), nullable=True),
        sa.Column("invocations_per_day", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_limits")
