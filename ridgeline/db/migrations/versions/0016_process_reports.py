"""monitoring: every process's latest performance report

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "process_reports",
        sa.Column("process_key", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", _json(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_reports")),
        sa.UniqueConstraint("process_key", name=op.f("uq_process_reports_process_key")),
    )
    op.create_index(op.f("ix_process_reports_updated_at"), "process_reports", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_process_reports_updated_at"), table_name="process_reports")
    op.drop_table("process_reports")
