"""catalog, sync runs and issues, notifications, POS events, streams

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_messages",
        sa.Column("stream_id", sa.String(length=120), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "offset", name=op.f("pk_stream_messages")),
    )
    op.create_index(
        "ix_stream_messages_created_at", "stream_messages", ["created_at"], unique=False
    )
    op.create_table(
        "streams",
        sa.Column("stream_id", sa.String(length=120), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("last_offset", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name=op.f("pk_streams")),
    )
    op.create_table(
        "admin_notifications",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_admin_notifications_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_admin_notifications_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_notifications")),
    )
    op.create_index(
        op.f("ix_admin_notifications_organization_id"),
        "admin_notifications",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_admin_notifications_store_id"), "admin_notifications", ["store_id"], unique=False
    )
    op.create_table(
        "pos_events",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pos_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_pos_events_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_events")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_pos_events_source_external_id")),
    )
    op.create_index(
        op.f("ix_pos_events_organization_id"), "pos_events", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_pos_events_store_id"), "pos_events", ["store_id"], unique=False)
    op.create_table(
        "products",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("brand", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("vendor_category", sa.String(length=200), nullable=True),
        sa.Column("strain_type", sa.String(length=16), nullable=True),
        sa.Column(
            "thc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "cbd",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("is_medical_only", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "image_urls",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("pos_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_products_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_products_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint(
            "store_id", "external_id", name=op.f("uq_products_store_id_external_id")
        ),
    )
    op.create_index(
        op.f("ix_products_organization_id"), "products", ["organization_id"], unique=False
    )
    op.create_index("ix_products_store_active", "products", ["store_id", "is_active"], unique=False)
    op.create_table(
        "store_sync_states",
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("catalog_interval_s", sa.Integer(), nullable=False),
        sa.Column("inventory_interval_s", sa.Integer(), nullable=False),
        sa.Column("stale_after_s", sa.Integer(), nullable=False),
        sa.Column("next_catalog_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_inventory_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("catalog_cursor", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column(
            "field_mapping",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_store_sync_states_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_store_sync_states_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_store_sync_states")),
    )
    op.create_index(
        op.f("ix_store_sync_states_next_catalog_sync_at"),
        "store_sync_states",
        ["next_catalog_sync_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_store_sync_states_next_inventory_sync_at"),
        "store_sync_states",
        ["next_inventory_sync_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_store_sync_states_organization_id"),
        "store_sync_states",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "sync_runs",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deactivated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cursor_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sync_runs_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_sync_runs_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index(
        op.f("ix_sync_runs_organization_id"), "sync_runs", ["organization_id"], unique=False
    )
    op.create_index(
        "ix_sync_runs_store_started", "sync_runs", ["store_id", "started_at"], unique=False
    )
    op.create_index(
        "uq_sync_runs_one_running",
        "sync_runs",
        ["store_id", "kind"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "product_enrichments",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "images",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("featured", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_product_enrichments_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_enrichments_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_product_enrichments_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_enrichments")),
    )
    op.create_index(
        op.f("ix_product_enrichments_organization_id"),
        "product_enrichments",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_product_enrichments_store_id"), "product_enrichments", ["store_id"], unique=False
    )
    op.create_table(
        "product_variants",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("weight_grams", sa.Double(), nullable=True),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("quantity_available", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("inventory_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_product_variants_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_variants_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_product_variants_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_variants")),
        sa.UniqueConstraint(
            "product_id", "external_id", name=op.f("uq_product_variants_product_id_external_id")
        ),
    )
    op.create_index(
        op.f("ix_product_variants_organization_id"),
        "product_variants",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_product_variants_product_id"), "product_variants", ["product_id"], unique=False
    )
    op.create_index(
        op.f("ix_product_variants_store_id"), "product_variants", ["store_id"], unique=False
    )
    op.create_table(
        "rfid_tags",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_rfid_tags_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_rfid_tags_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_rfid_tags_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rfid_tags")),
        sa.UniqueConstraint("store_id", "tag", name=op.f("uq_rfid_tags_store_id_tag")),
    )
    op.create_index(
        op.f("ix_rfid_tags_organization_id"), "rfid_tags", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_rfid_tags_product_id"), "rfid_tags", ["product_id"], unique=False)
    op.create_table(
        "sync_issues",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("sync_run_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "raw_record",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sync_issues_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_sync_issues_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["sync_runs.id"],
            name=op.f("fk_sync_issues_sync_run_id_sync_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_issues")),
    )
    op.create_index(
        op.f("ix_sync_issues_organization_id"), "sync_issues", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_sync_issues_store_id"), "sync_issues", ["store_id"], unique=False)
    op.create_index(
        op.f("ix_sync_issues_sync_run_id"), "sync_issues", ["sync_run_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sync_issues_sync_run_id"), table_name="sync_issues")
    op.drop_index(op.f("ix_sync_issues_store_id"), table_name="sync_issues")
    op.drop_index(op.f("ix_sync_issues_organization_id"), table_name="sync_issues")
    op.drop_table("sync_issues")
    op.drop_index(op.f("ix_rfid_tags_product_id"), table_name="rfid_tags")
    op.drop_index(op.f("ix_rfid_tags_organization_id"), table_name="rfid_tags")
    op.drop_table("rfid_tags")
    op.drop_index(op.f("ix_product_variants_store_id"), table_name="product_variants")
    op.drop_index(op.f("ix_product_variants_product_id"), table_name="product_variants")
    op.drop_index(op.f("ix_product_variants_organization_id"), table_name="product_variants")
    op.drop_table("product_variants")
    op.drop_index(op.f("ix_product_enrichments_store_id"), table_name="product_enrichments")
    op.drop_index(op.f("ix_product_enrichments_organization_id"), table_name="product_enrichments")
    op.drop_table("product_enrichments")
    op.drop_index(
        "uq_sync_runs_one_running",
        table_name="sync_runs",
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )
    op.drop_index("ix_sync_runs_store_started", table_name="sync_runs")
    op.drop_index(op.f("ix_sync_runs_organization_id"), table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index(op.f("ix_store_sync_states_organization_id"), table_name="store_sync_states")
    op.drop_index(
        op.f("ix_store_sync_states_next_inventory_sync_at"), table_name="store_sync_states"
    )
    op.drop_index(op.f("ix_store_sync_states_next_catalog_sync_at"), table_name="store_sync_states")
    op.drop_table("store_sync_states")
    op.drop_index("ix_products_store_active", table_name="products")
    op.drop_index(op.f("ix_products_organization_id"), table_name="products")
    op.drop_table("products")
    op.drop_index(op.f("ix_pos_events_store_id"), table_name="pos_events")
    op.drop_index(op.f("ix_pos_events_organization_id"), table_name="pos_events")
    op.drop_table("pos_events")
    op.drop_index(op.f("ix_admin_notifications_store_id"), table_name="admin_notifications")
    op.drop_index(op.f("ix_admin_notifications_organization_id"), table_name="admin_notifications")
    op.drop_table("admin_notifications")
    op.drop_table("streams")
    op.drop_index("ix_stream_messages_created_at", table_name="stream_messages")
    op.drop_table("stream_messages")
