from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import (
    Base,
    EntityMixin,
    IdMixin,
    JSONDocument,
    organization_column,
    store_column,
    utcnow,
)


class Product(EntityMixin, Base):
    """A store's product as its POS describes it, in canonical fields. Only syncs write these
    columns; operator enrichment lives in `ProductEnrichment`."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index("ix_products_store_active", "store_id", "is_active"),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column()
    external_id: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str | None] = mapped_column(String(200), default=None)
    name: Mapped[str] = mapped_column(String(500))
    brand: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(32))
    vendor_category: Mapped[str | None] = mapped_column(String(200), default=None)
    strain_type: Mapped[str | None] = mapped_column(String(16), default=None)
    thc: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    cbd: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    is_medical_only: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    image_urls: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    pos_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SHA-256 of the canonical POS fields: a sync that sees the same hash writes nothing.
    content_hash: Mapped[str] = mapped_column(String(64))


class ProductVariant(IdMixin, Base):
    """A sellable size of a product, with its price and stock (inventory is per variant)."""

    __tablename__ = "product_variants"
    __table_args__ = (UniqueConstraint("product_id", "external_id"),)
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column(index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(100))
    weight_grams: Mapped[float | None] = mapped_column(default=None)
    price_cents: Mapped[int]
    quantity_available: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)
    inventory_updated_at: Mapped[datetime | None] = mapped_column(default=None)


class ProductEnrichment(Base):
    """What operators add to a product; no sync ever writes it."""

    __tablename__ = "product_enrichments"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column(index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    images: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    hidden: Mapped[bool] = mapped_column(default=False)
    featured: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RfidTag(EntityMixin, Base):
    """An RFID tag on a display item, pointing kiosks at a product (lift-and-learn)."""

    __tablename__ = "rfid_tags"
    __table_args__ = (UniqueConstraint("store_id", "tag"),)
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column()
    tag: Mapped[str] = mapped_column(String(128))
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
