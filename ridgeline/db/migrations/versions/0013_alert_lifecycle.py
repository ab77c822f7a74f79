"""alerts: a state of their own (pending, firing, acknowledged, resolved), flaps, a timeline

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_notifications") as batch:
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="firing")
        )
        batch.add_column(sa.Column("flaps", sa.Integer(), nullable=False, server_default="0"))
    # Existing rows: their state follows from their timestamps.
    op.execute(
        "UPDATE admin_notifications SET state = CASE "
        "WHEN resolved_at IS NOT NULL THEN 'resolved' "
        "WHEN acknowledged_at IS NOT NULL THEN 'acknowledged' ELSE 'firing' END"
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("move", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["admin_notifications.id"],
            name=op.f("fk_alert_events_alert_id_admin_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_alert_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(
        op.f("ix_alert_events_organization_id"), "alert_events", ["organization_id"], unique=False
    )
    op.create_index("uq_alert_events_alert_id", "alert_events", ["alert_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_table("alert_events")
    with op.batch_alter_table("admin_notifications") as batch:
        batch.drop_column("flaps")
        batch.drop_column("state")
