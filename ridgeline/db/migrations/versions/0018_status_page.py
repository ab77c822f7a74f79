"""status page: components and their history, uptime by day, incidents and maintenance

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "status_components",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("derived_status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("override_status", sa.String(length=24), nullable=True),
        sa.Column("override_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.String(length=200), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_components")),
        sa.UniqueConstraint("key", name=op.f("uq_status_components_key")),
    )
    op.create_table(
        "status_incidents",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("impact", sa.String(length=16), nullable=False),
        sa.Column("components", _json(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("monitoring_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_transition", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_incidents")),
    )
    op.create_index(
        "ix_status_incidents_kind_status", "status_incidents", ["kind", "status"], unique=False
    )
    op.create_index(
        op.f("ix_status_incidents_published_at"), "status_incidents", ["published_at"], unique=False
    )
    op.create_index(
        op.f("ix_status_incidents_source"), "status_incidents", ["source"], unique=False
    )
    op.create_table(
        "status_component_changes",
        sa.Column("component_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["status_components.id"],
            name=op.f("fk_status_component_changes_component_id_status_components"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_component_changes")),
    )
    op.create_index(
        "ix_status_component_changes_component_at",
        "status_component_changes",
        ["component_id", "at"],
        unique=False,
    )
    op.create_table(
        "status_incident_updates",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("display_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("affected_components", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["status_incidents.id"],
            name=op.f("fk_status_incident_updates_incident_id_status_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_incident_updates")),
    )
    op.create_index(
        "ix_status_incident_updates_incident_at",
        "status_incident_updates",
        ["incident_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "status_uptime_days",
        sa.Column("component_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seconds", _json(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["status_components.id"],
            name=op.f("fk_status_uptime_days_component_id_status_components"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("component_id", "day", name=op.f("pk_status_uptime_days")),
    )


def downgrade() -> None:
    op.drop_table("status_uptime_days")
    op.drop_index("ix_status_incident_updates_incident_at", table_name="status_incident_updates")
    op.drop_table("status_incident_updates")
    op.drop_index("ix_status_component_changes_component_at", table_name="status_component_changes")
    op.drop_table("status_component_changes")
    op.drop_index(op.f("ix_status_incidents_source"), table_name="status_incidents")
    op.drop_index(op.f("ix_status_incidents_published_at"), table_name="status_incidents")
    op.drop_index("ix_status_incidents_kind_status", table_name="status_incidents")
    op.drop_table("status_incidents")
    op.drop_table("status_components")
