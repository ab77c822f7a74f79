"""circuit_breakers: failed half-open probes, counted

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("circuit_breakers") as batch:
        batch.add_column(
            sa.Column("probes_failed", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("circuit_breakers") as batch:
        batch.drop_column("probes_failed")
