"""compliance: a store's jurisdiction profile and overrides, and the kind of a sync issue

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("compliance_profile", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("compliance_overrides", _json(), nullable=True))
    with op.batch_alter_table("sync_issues") as batch:
        batch.add_column(
            sa.Column(
                "kind",
                sa.String(length=32),
                server_default="invalid_record",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_issues") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("compliance_overrides")
        batch.drop_column("compliance_profile")
