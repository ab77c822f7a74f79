"""The catalog writes of a sync, each with its stream event in the same transaction.

Products and variants are written only when they changed; every write yields the event a kiosk
applies without a REST call (conventions.md, "Events"): `product.created`, `product.updated`,
`product.deactivated` carry the product's kiosk view, `inventory.changed` a variant's new stock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.catalog.views import is_visible, kiosk_event_data
from ridgeline.db.tenancy import TenantScope
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant
from ridgeline.models.store import Store
from ridgeline.pos.canonical import CanonicalProduct
from ridgeline.sync import repository
from ridgeline.sync.repository import KnownProduct

Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ProductChange:
    """A POS record whose content differs from ours (or that we do not have yet)."""

    product: CanonicalProduct
    content_hash: str
    known: KnownProduct | None


@dataclass(frozen=True, slots=True)
class StockChange:
    variant_id: uuid.UUID
    product_id: uuid.UUID
    quantity: int


def product_event(
    product: Product,
    variants: Sequence[ProductVariant],
    enrichment: ProductEnrichment | None,
    *,
    created: bool = False,
) -> Event:
    """The event for a written product, with the same kiosk view the catalog API serves
    (enrichment included). A product kiosks may not see (inactive, or hidden by an operator) is
    announced as deactivated, so kiosks drop it whatever they had."""
    data = kiosk_event_data(product, variants, enrichment)
    if not is_visible(product, enrichment):
        return ("product.deactivated", data)
    return ("product.created" if created else "product.updated", data)


def _product_columns(product: CanonicalProduct, content_hash: str, now: datetime) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "brand": product.brand,
        "category": product.category.value,
        "vendor_category": product.vendor_category,
        "strain_type": None if product.strain_type is None else product.strain_type.value,
        "thc": None if product.thc is None else product.thc.model_dump(mode="json"),
        "cbd": None if product.cbd is None else product.cbd.model_dump(mode="json"),
        "is_medical_only": product.is_medical_only,
        "is_active": product.is_active,
        "image_urls": list(product.image_urls),
        "tags": list(product.tags),
        "pos_updated_at": product.pos_updated_at,
        "synced_at": now,
        "content_hash": content_hash,
        "updated_at": now,
    }


async def write_products(
    session: AsyncSession,
    scope: TenantScope,
    store: Store,
    changes: Sequence[ProductChange],
    *,
    now: datetime,
    with_events: bool = True,
) -> tuple[int, int, list[Event]]:
    """Creates and updates one batch; returns (created, updated, events).

    Without `with_events` (a run that ends in one `catalog.resync`) no event is built: new rows
    go to the database as plain column values, never through ORM instances, and enrichment is
    not read (it only feeds the events' kiosk view)."""
    events: list[Event] = []
    created_rows: list[dict[str, Any]] = []
    created_variants: list[dict[str, Any]] = []
    for change in changes:
        if change.known is not None:
            continue
        row = _product_columns(change.product, change.content_hash, now)
        row.update(
            id=uuid.uuid4(),
            organization_id=store.organization_id,
            store_id=store.id,
            external_id=change.product.external_id,
            created_at=now,
        )
        created_rows.append(row)
        variant_rows = _variant_rows(store, row["id"], change.product, now)
        created_variants.extend(variant_rows)
        if with_events:
            product = Product(**row)
            variants = [ProductVariant(**variant) for variant in variant_rows]
            events.append(product_event(product, variants, None, created=True))
    if created_rows:
        await repository.insert_products(session, created_rows, created_variants)

    updates = [change for change in changes if change.known is not None]
    if not updates:
        return len(created_rows), 0, events
    stored = await repository.products_by_id(
        session, scope, (c.known.id for c in updates if c.known is not None)
    )
    stored_variants = await repository.variants_of(session, scope, stored)
    enrichments = await repository.enrichments_of(session, scope, stored) if with_events else {}
    for change in updates:
        assert change.known is not None
        product = stored[change.known.id]
        for name, value in _product_columns(change.product, change.content_hash, now).items():
            setattr(product, name, value)
        variants = await _merge_variants(
            session, store, product, stored_variants[product.id], change.product, now
        )
        if with_events:
            events.append(product_event(product, variants, enrichments.get(product.id)))
    await session.flush()
    return len(created_rows), len(updates), events


def _variant_rows(
    store: Store, product_id: uuid.UUID, product: CanonicalProduct, now: datetime
) -> list[dict[str, Any]]:
    """The column values of a new product's variants, in the POS's order."""
    return [
        {
            "id": uuid.uuid4(),
            "organization_id": store.organization_id,
            "store_id": store.id,
            "product_id": product_id,
            "external_id": variant.external_id,
            "label": variant.label,
            "weight_grams": variant.weight_grams,
            "price_cents": variant.price_cents,
            "quantity_available": variant.quantity_available or 0,
            "position": position,
            "inventory_updated_at": now if variant.quantity_available is not None else None,
        }
        for position, variant in enumerate(product.variants)
    ]


async def _merge_variants(
    session: AsyncSession,
    store: Store,
    product: Product,
    current: list[ProductVariant],
    canonical: CanonicalProduct,
    now: datetime,
) -> list[ProductVariant]:
    """Variants matched by their POS id: updated in place (keeping their ids, which carts and
    RFID tags may hold), added, or removed when the POS no longer sells that size."""
    by_external = {variant.external_id: variant for variant in current}
    kept: list[ProductVariant] = []
    for position, incoming in enumerate(canonical.variants):
        variant = by_external.pop(incoming.external_id, None)
        if variant is None:
            variant = ProductVariant(
                id=uuid.uuid4(),
                organization_id=store.organization_id,
                store_id=store.id,
                product_id=product.id,
                external_id=incoming.external_id,
                quantity_available=0,
            )
            session.add(variant)
        variant.label = incoming.label
        variant.weight_grams = incoming.weight_grams
        variant.price_cents = incoming.price_cents
        variant.position = position
        if incoming.quantity_available is not None:
            variant.quantity_available = incoming.quantity_available
            variant.inventory_updated_at = now
        kept.append(variant)
    for gone in by_external.values():
        await session.delete(gone)
    return kept


async def deactivate_products(
    session: AsyncSession,
    scope: TenantScope,
    product_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    with_events: bool = True,
) -> list[Event]:
    """Hides products the POS no longer lists; they stay (with enrichment and RFID tags) in case
    the POS lists them again. Without `with_events`, one UPDATE and nothing read."""
    if not with_events:
        await repository.deactivate_products(session, scope, product_ids, at=now)
        return []
    stored = await repository.products_by_id(session, scope, product_ids)
    variants = await repository.variants_of(session, scope, stored)
    enrichments = await repository.enrichments_of(session, scope, stored)
    events: list[Event] = []
    for product in stored.values():
        product.is_active = False
        product.synced_at = now
        product.updated_at = now
        events.append(product_event(product, variants[product.id], enrichments.get(product.id)))
    await session.flush()
    return events


async def write_stock(
    session: AsyncSession, changes: Sequence[StockChange], *, now: datetime
) -> list[Event]:
    events: list[Event] = []
    for change in changes:
        await repository.set_stock(session, change.variant_id, change.quantity, at=now)
        events.append(
            (
                "inventory.changed",
                {
                    "product_id": str(change.product_id),
                    "variant_id": str(change.variant_id),
                    "quantity_available": change.quantity,
                },
            )
        )
    return events
