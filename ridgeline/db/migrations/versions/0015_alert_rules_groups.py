"""alerts: rule overrides, notification groups, silences, escalation policies

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _entity(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "alert_escalation_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("levels", _json(), nullable=False),
        sa.Column("rules", _json(), nullable=False),
        *_entity("alert_escalation_policies"),
    )
    op.create_table(
        "alert_silences",
        sa.Column("matchers", _json(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        *_entity("alert_silences"),
    )
    op.create_table(
        "alert_groups",
        sa.Column("group_key", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_digest", sa.String(length=64), nullable=True),
        sa.Column("last_state", sa.String(length=16), nullable=True),
        sa.Column("notifications", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notified_channel_ids", _json(), nullable=False),
        sa.Column("escalation_policy_id", sa.Uuid(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["escalation_policy_id"],
            ["alert_escalation_policies.id"],
            name=op.f("fk_alert_groups_escalation_policy_id_alert_escalation_policies"),
            ondelete="SET NULL",
        ),
        *_entity("alert_groups"),
    )
    op.create_table(
        "alert_rule_overrides",
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_alert_rule_overrides_store_id_stores"),
            ondelete="CASCADE",
        ),
        *_entity("alert_rule_overrides"),
    )
    for table in (
        "alert_escalation_policies",
        "alert_silences",
        "alert_groups",
        "alert_rule_overrides",
    ):
        op.create_index(op.f(f"ix_{table}_organization_id"), table, ["organization_id"])
    op.create_index(
        "uq_alert_groups_open_key",
        "alert_groups",
        ["organization_id", "group_key"],
        unique=True,
        postgresql_where=sa.text("closed_at IS NULL"),
        sqlite_where=sa.text("closed_at IS NULL"),
    )
    op.create_index(
        "uq_alert_rule_overrides_organization_rule",
        "alert_rule_overrides",
        ["organization_id", "rule"],
        unique=True,
        postgresql_where=sa.text("store_id IS NULL"),
        sqlite_where=sa.text("store_id IS NULL"),
    )
    op.create_index(
        "uq_alert_rule_overrides_store_rule",
        "alert_rule_overrides",
        ["store_id", "rule"],
        unique=True,
    )
    with op.batch_alter_table("admin_notifications") as batch:
        batch.add_column(sa.Column("fires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("group_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("suppressed_by", sa.String(length=100), nullable=True))
        batch.create_index(op.f("ix_admin_notifications_group_id"), ["group_id"])
        batch.create_foreign_key(
            op.f("fk_admin_notifications_group_id_alert_groups"),
            "alert_groups",
            ["group_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.add_column(sa.Column("group_id", sa.Uuid(), nullable=True))
        batch.create_index(op.f("ix_alert_deliveries_group_id"), ["group_id"])
        batch.create_foreign_key(
            op.f("fk_alert_deliveries_group_id_alert_groups"),
            "alert_groups",
            ["group_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.drop_constraint(op.f("fk_alert_deliveries_group_id_alert_groups"), type_="foreignkey")
        batch.drop_index(op.f("ix_alert_deliveries_group_id"))
        batch.drop_column("group_id")
    with op.batch_alter_table("admin_notifications") as batch:
        batch.drop_constraint(
            op.f("fk_admin_notifications_group_id_alert_groups"), type_="foreignkey"
        )
        batch.drop_index(op.f("ix_admin_notifications_group_id"))
        for column in ("suppressed_by", "notified_at", "group_id", "fires_at"):
            batch.drop_column(column)
    op.drop_table("alert_rule_overrides")
    op.drop_table("alert_groups")
    op.drop_table("alert_silences")
    op.drop_table("alert_escalation_policies")
