"""kiosk_api_keys: purpose (kiosk, or diagnostic: the doctor's, which never marks a kiosk seen)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kiosk_api_keys") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="kiosk")
        )


def downgrade() -> None:
    with op.batch_alter_table("kiosk_api_keys") as batch:
        batch.drop_column("purpose")
