"""taxes: a store's tax schedules, and the tax, total and limit figures an order was taken with

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("tax_settings", _json(), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("tax_cents", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("total_cents", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tax_details", _json(), nullable=True))
        batch.add_column(sa.Column("limit_details", _json(), nullable=True))
        batch.add_column(sa.Column("pos_total_cents", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("pos_total_cents")
        batch.drop_column("limit_details")
        batch.drop_column("tax_details")
        batch.drop_column("total_cents")
        batch.drop_column("tax_cents")
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("tax_settings")
