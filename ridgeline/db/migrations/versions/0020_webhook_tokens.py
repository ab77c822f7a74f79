"""stores: a webhook token of their own (sealed), and the previous one's hash until its grace ends

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("webhook_token_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("webhook_previous_token_hash", sa.String(length=64), nullable=True)
        )
        batch.add_column(
            sa.Column("webhook_previous_token_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("webhook_previous_token_until")
        batch.drop_column("webhook_previous_token_hash")
        batch.drop_column("webhook_token_encrypted")
