"""store health: connection state, transitions, recovery runs; alert dedup and resolution

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = sa.DateTime(timezone=True)


def _tenant_keys(table: str) -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f(f"fk_{table}_store_id_stores"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "store_health",
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.Column("since", TIME, nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("catalog_stale", sa.Boolean(), nullable=False),
        sa.Column("paused_at", TIME, nullable=True),
        sa.Column("paused_by", sa.String(length=200), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("last_reached_at", TIME, nullable=True),
        sa.Column("unreachable_since", TIME, nullable=True),
        sa.Column("thresholds", JSON, nullable=False),
        sa.Column("recovery_failures", sa.Integer(), nullable=False),
        sa.Column("next_recovery_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        *_tenant_keys("store_health"),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_store_health")),
    )
    op.create_index(
        op.f("ix_store_health_organization_id"), "store_health", ["organization_id"], unique=False
    )
    op.create_table(
        "store_health_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        *_tenant_keys("store_health_transitions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_health_transitions")),
    )
    op.create_index(
        op.f("ix_store_health_transitions_organization_id"),
        "store_health_transitions",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        "ix_store_health_transitions_store_at",
        "store_health_transitions",
        ["store_id", "at"],
        unique=False,
    )
    op.create_table(
        "recovery_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("trigger", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("state_before", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        *_tenant_keys("recovery_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_runs")),
    )
    op.create_index(
        op.f("ix_recovery_runs_organization_id"), "recovery_runs", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_recovery_runs_store_started", "recovery_runs", ["store_id", "started_at"], unique=False
    )
    op.create_index(
        "uq_recovery_runs_one_running",
        "recovery_runs",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("pos_credentials_refused_at", TIME, nullable=True))
        batch.add_column(sa.Column("pos_connection_reset_at", TIME, nullable=True))
    with op.batch_alter_table("admin_notifications") as batch:
        batch.add_column(sa.Column("dedup_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_occurred_at", TIME, nullable=True))
        batch.add_column(sa.Column("resolved_at", TIME, nullable=True))
    op.create_index(
        "uq_admin_notifications_open_dedup_key",
        "admin_notifications",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
        sqlite_where=sa.text("resolved_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_admin_notifications_open_dedup_key", table_name="admin_notifications")
    with op.batch_alter_table("admin_notifications") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("last_occurred_at")
        batch.drop_column("occurrences")
        batch.drop_column("dedup_key")
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("pos_connection_reset_at")
        batch.drop_column("pos_credentials_refused_at")
    op.drop_table("recovery_runs")
    op.drop_table("store_health_transitions")
    op.drop_table("store_health")
