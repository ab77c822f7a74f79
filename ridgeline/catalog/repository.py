"""Queries over products, variants, enrichment, RFID tags and sync state, always scoped."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, String, func, or_, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant, RfidTag
from ridgeline.models.health import StoreHealth
from ridgeline.models.sync import StoreSyncState, SyncKind, SyncRun


def products(
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    active_only: bool = False,
    category: str | None = None,
    brand: str | None = None,
    strain_type: str | None = None,
    is_active: bool | None = None,
    hidden: bool | None = None,
    q: str | None = None,
) -> Select[Product]:
    statement = scoped(select(Product), Product, scope).where(Product.store_id == store_id)
    if active_only:
        statement = statement.where(Product.is_active.is_(True))
    if is_active is not None:
        statement = statement.where(Product.is_active.is_(is_active))
    if category is not None:
        statement = statement.where(Product.category == category)
    if brand is not None:
        statement = statement.where(func.lower(Product.brand) == brand.lower())
    if strain_type is not None:
        statement = statement.where(Product.strain_type == strain_type)
    if hidden is not None:
        hidden_ids = scoped(select(ProductEnrichment.product_id), ProductEnrichment, scope).where(
            ProductEnrichment.store_id == store_id, ProductEnrichment.hidden.is_(True)
        )
        statement = statement.where(
            Product.id.in_(hidden_ids) if hidden else Product.id.not_in(hidden_ids)
        )
    if q:
        needle = q.lower()
        statement = statement.where(
            or_(
                func.lower(Product.name).contains(needle, autoescape=True),
                func.lower(Product.brand).contains(needle, autoescape=True),
            )
        )
    return statement


async def product(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, product_id: uuid.UUID
) -> Product | None:
    return await session.scalar(products(scope, store_id).where(Product.id == product_id))


async def active_products(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID],
    *,
    category: str | None = None,
    brand: str | None = None,
    strain_type: str | None = None,
) -> list[Product]:
    """The store's active products among `product_ids` that pass the filters given (hidden or
    not: enrichment is the caller's to check)."""
    if not product_ids:
        return []
    statement = products(
        scope,
        store_id,
        active_only=True,
        category=category,
        brand=brand,
        strain_type=strain_type,
    ).where(Product.id.in_(list(product_ids)))
    return list((await session.scalars(statement)).all())


async def active_product_ids_of_brand(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, brand: str
) -> set[uuid.UUID]:
    """The ids of the store's active products of `brand`, compared by the database's own
    `lower()` on both sides."""
    statement = products(scope, store_id, active_only=True, brand=brand).with_only_columns(
        Product.id
    )
    return set((await session.scalars(statement)).all())


async def variants_by_product(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID] | None = None,
) -> dict[uuid.UUID, list[ProductVariant]]:
    """Variants grouped by product: of the given products, or of the whole store (None)."""
    statement = scoped(select(ProductVariant), ProductVariant, scope).where(
        ProductVariant.store_id == store_id
    )
    if product_ids is not None:
        if not product_ids:
            return {}
        statement = statement.where(ProductVariant.product_id.in_(list(product_ids)))
    grouped: dict[uuid.UUID, list[ProductVariant]] = defaultdict(list)
    for variant in (await session.scalars(statement)).all():
        grouped[variant.product_id].append(variant)
    return grouped


async def enrichments_by_product(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID] | None = None,
) -> dict[uuid.UUID, ProductEnrichment]:
    statement = scoped(select(ProductEnrichment), ProductEnrichment, scope).where(
        ProductEnrichment.store_id == store_id
    )
    if product_ids is not None:
        if not product_ids:
            return {}
        statement = statement.where(ProductEnrichment.product_id.in_(list(product_ids)))
    return {e.product_id: e for e in (await session.scalars(statement)).all()}


async def enrichment(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, product_id: uuid.UUID
) -> ProductEnrichment | None:
    found = await enrichments_by_product(session, scope, store_id, [product_id])
    return found.get(product_id)


async def store_health(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> StoreHealth | None:
    statement = scoped(select(StoreHealth), StoreHealth, scope).where(
        StoreHealth.store_id == store_id
    )
    return await session.scalar(statement)


async def sync_state(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> StoreSyncState | None:
    statement = scoped(select(StoreSyncState), StoreSyncState, scope).where(
        StoreSyncState.store_id == store_id
    )
    return await session.scalar(statement)


def rfid_tags(
    scope: TenantScope, store_id: uuid.UUID, *, product_id: uuid.UUID | None = None
) -> Select[RfidTag]:
    statement = scoped(select(RfidTag), RfidTag, scope).where(RfidTag.store_id == store_id)
    if product_id is not None:
        statement = statement.where(RfidTag.product_id == product_id)
    return statement


async def rfid_tag(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, tag: str
) -> RfidTag | None:
    return await session.scalar(rfid_tags(scope, store_id).where(RfidTag.tag == tag))


# The catalog index (service.catalog_page): column-only reads, no ORM objects. Each returns the
# product id as the driver gives it (`raw_id`), so that variants and enrichment find their product
# without a UUID object per row (a third of an index build on SQLite).


async def running_sync_heartbeats(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> Sequence[Row[SyncKind, datetime, datetime]]:
    """The kind, start and heartbeat of each of the store's running sync runs."""
    statement = (
        scoped(select(SyncRun), SyncRun, scope)
        .where(SyncRun.store_id == store_id, text("sync_runs.status = 'running'"))
        .with_only_columns(SyncRun.kind, SyncRun.started_at, SyncRun.heartbeat_at)
    )
    return (await session.execute(statement)).all()


async def index_products(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID] | None = None,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The store's active products (all, or those among `product_ids`): `id`, `raw_id`, `name`,
    `brand`, `category`, `strain_type`, `tags`, `created_at`."""
    raw_id = type_coerce(Product.id, String).label("raw_id")
    statement = products(scope, store_id, active_only=True).with_only_columns(
        Product.id,
        raw_id,
        Product.name,
        Product.brand,
        Product.category,
        Product.strain_type,
        Product.tags,
        Product.created_at,
    )
    if product_ids is not None:
        statement = statement.where(Product.id.in_(list(product_ids)))
    return (await session.execute(statement)).all()


async def index_variants(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID] | None = None,
) -> Sequence[Row[str, int, int]]:
    """Every variant of the store (or of the products `product_ids`) as (raw product id,
    `price_cents`, `quantity_available`)."""
    statement = (
        scoped(select(ProductVariant), ProductVariant, scope)
        .where(ProductVariant.store_id == store_id)
        .with_only_columns(
            type_coerce(ProductVariant.product_id, String),
            ProductVariant.price_cents,
            ProductVariant.quantity_available,
        )
    )
    if product_ids is not None:
        statement = statement.where(ProductVariant.product_id.in_(list(product_ids)))
    return (await session.execute(statement)).all()


async def index_enrichments(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID] | None = None,
) -> Sequence[Row[str, bool, bool, int, list[str]]]:
    """Every enrichment of the store (or of the products `product_ids`): `raw_id` (its
    product's), `hidden`, `featured`, `sort_order`, `tags`."""
    statement = (
        scoped(select(ProductEnrichment), ProductEnrichment, scope)
        .where(ProductEnrichment.store_id == store_id)
        .with_only_columns(
            type_coerce(ProductEnrichment.product_id, String).label("raw_id"),
            ProductEnrichment.hidden,
            ProductEnrichment.featured,
            ProductEnrichment.sort_order,
            ProductEnrichment.tags,
        )
    )
    if product_ids is not None:
        statement = statement.where(ProductEnrichment.product_id.in_(list(product_ids)))
    return (await session.execute(statement)).all()
