"""stores: POS provider and encrypted credentials

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pos_provider", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("pos_config_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("pos_config_updated_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("pos_config_updated_at")
        batch_op.drop_column("pos_config_encrypted")
        batch_op.drop_column("pos_provider")
