"""Queries over products, variants, enrichment, RFID tags and sync state, always scoped."""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    String,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant, RfidTag
from ridgeline.models.health import StoreHealth
from ridgeline.models.stream import Stream
from ridgeline.models.sync import StoreSyncState, SyncRun


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


# The catalog index build (service.catalog_page): column-only reads, no ORM objects. Each returns
# the product id as the driver gives it (`raw_id`), so that variants and enrichment find their
# product without a UUID object per row (a third of an index build on SQLite).


async def index_products(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The store's active products: `id`, `raw_id`, `name`, `brand`, `category`, `strain_type`,
    `tags`, `created_at`."""
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
    return (await session.execute(statement)).all()


async def index_variants(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> Sequence[Row[str, int, int]]:
    """Every variant of the store as (raw product id, `price_cents`, `quantity_available`)."""
    statement = (
        scoped(select(ProductVariant), ProductVariant, scope)
        .where(ProductVariant.store_id == store_id)
        .with_only_columns(
            type_coerce(ProductVariant.product_id, String),
            ProductVariant.price_cents,
            ProductVariant.quantity_available,
        )
    )
    return (await session.execute(statement)).all()


async def index_enrichments(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> Sequence[Row[str, bool, bool, int, list[str]]]:
    """Every enrichment of the store: `raw_id` (its product's), `hidden`, `featured`,
    `sort_order`, `tags`."""
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
    return (await session.execute(statement)).all()


# A kiosk's catalog request (service.catalog_status, service.catalog_page): few statements, and
# columns rather than ORM objects. Each statement is built once per store and scope (and filters)
# and kept: building one and computing its cache key costs about as much as running it on SQLite
# (0.2-0.8 ms); a kept statement's cache key is memoized. The page's ids are an expanding bound
# parameter. A store's three statements hold about 80 KiB (with their cache keys): the most kept,
# per function, is the number of stores a process serves at once, or so.
STATEMENTS_KEPT = 512


async def freshness(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, stream_id: str
) -> Sequence[Row[*tuple[Any, ...]]]:
    """In one statement: the store stream's `epoch` and `last_offset` (None: nobody wrote to it
    yet), the sync state's `last_success_at` and `stale_after_s` (None: no sync state), the
    store health's `health_state` and `health_cause` (None: none), and one row per running sync
    run (`run_kind`, `run_started_at`, `run_heartbeat_at`; one row of None without any)."""
    return (await session.execute(_freshness(scope, store_id, stream_id))).all()


@functools.lru_cache(maxsize=STATEMENTS_KEPT)
def _freshness(scope: TenantScope, store_id: uuid.UUID, stream_id: str) -> Select[*tuple[Any, ...]]:
    one = select(literal_column("1").label("one")).subquery("one")
    stream = (
        select(Stream.epoch, Stream.last_offset)
        .where(Stream.stream_id == stream_id)
        .subquery("stream")
    )
    state = (
        scoped(select(StoreSyncState), StoreSyncState, scope)
        .where(StoreSyncState.store_id == store_id)
        .with_only_columns(StoreSyncState.last_success_at, StoreSyncState.stale_after_s)
        .subquery("state")
    )
    health = (
        scoped(select(StoreHealth), StoreHealth, scope)
        .where(StoreHealth.store_id == store_id)
        .with_only_columns(StoreHealth.state, StoreHealth.cause)
        .subquery("health")
    )
    runs = (
        scoped(select(SyncRun), SyncRun, scope)
        .where(SyncRun.store_id == store_id, text("sync_runs.status = 'running'"))
        .with_only_columns(SyncRun.kind, SyncRun.started_at, SyncRun.heartbeat_at)
        .subquery("runs")
    )
    return (
        select(
            stream.c.epoch,
            stream.c.last_offset,
            state.c.last_success_at,
            state.c.stale_after_s,
            health.c.state.label("health_state"),
            health.c.cause.label("health_cause"),
            runs.c.kind.label("run_kind"),
            runs.c.started_at.label("run_started_at"),
            runs.c.heartbeat_at.label("run_heartbeat_at"),
        )
        .select_from(one)
        .outerjoin(stream, true())
        .outerjoin(state, true())
        .outerjoin(health, true())
        .outerjoin(runs, true())
    )


async def page_products(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID],
    *,
    category: str | None = None,
    brand: str | None = None,
    strain_type: str | None = None,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The store's active products among `product_ids` that pass the filters given, each with
    its enrichment (hidden or not: visibility is the caller's to check), in one read: a product's
    columns under their own names (`views.ProductFields`), `raw_id` (its id as the driver gives
    it, which `page_variants` rows carry), `created_at`, and the enrichment's prefixed
    `enrichment_` (`enrichment_product_id` None: no enrichment)."""
    if not product_ids:
        return []
    statement = _page_products(scope, store_id, category, brand, strain_type)
    return (await session.execute(statement, {"product_ids": list(product_ids)})).all()


@functools.lru_cache(maxsize=STATEMENTS_KEPT)
def _page_products(
    scope: TenantScope,
    store_id: uuid.UUID,
    category: str | None,
    brand: str | None,
    strain_type: str | None,
) -> Select[*tuple[Any, ...]]:
    return (
        products(
            scope,
            store_id,
            active_only=True,
            category=category,
            brand=brand,
            strain_type=strain_type,
        )
        .where(Product.id.in_(bindparam("product_ids", expanding=True)))
        # By its key alone: an enrichment is its product's (same store and organization).
        .outerjoin(ProductEnrichment, ProductEnrichment.product_id == Product.id)
        .with_only_columns(
            Product.id,
            type_coerce(Product.id, String).label("raw_id"),
            Product.store_id,
            Product.external_id,
            Product.sku,
            Product.name,
            Product.brand,
            Product.category,
            Product.strain_type,
            Product.thc,
            Product.cbd,
            Product.is_medical_only,
            Product.is_active,
            Product.image_urls,
            Product.tags,
            Product.pos_updated_at,
            Product.synced_at,
            Product.created_at,
            ProductEnrichment.product_id.label("enrichment_product_id"),
            ProductEnrichment.description.label("enrichment_description"),
            ProductEnrichment.images.label("enrichment_images"),
            ProductEnrichment.tags.label("enrichment_tags"),
            ProductEnrichment.hidden.label("enrichment_hidden"),
            ProductEnrichment.featured.label("enrichment_featured"),
            ProductEnrichment.sort_order.label("enrichment_sort_order"),
        )
    )


async def page_variants(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID],
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The variants of `product_ids`: `raw_product_id` (as `page_products` gives `raw_id`), and
    what a kiosk view reads (`views.VariantFields`)."""
    if not product_ids:
        return []
    statement = _page_variants(scope, store_id)
    return (await session.execute(statement, {"product_ids": list(product_ids)})).all()


@functools.lru_cache(maxsize=STATEMENTS_KEPT)
def _page_variants(scope: TenantScope, store_id: uuid.UUID) -> Select[*tuple[Any, ...]]:
    return (
        scoped(select(ProductVariant), ProductVariant, scope)
        .where(
            ProductVariant.store_id == store_id,
            ProductVariant.product_id.in_(bindparam("product_ids", expanding=True)),
        )
        .with_only_columns(
            type_coerce(ProductVariant.product_id, String).label("raw_product_id"),
            ProductVariant.id,
            ProductVariant.label,
            ProductVariant.weight_grams,
            ProductVariant.price_cents,
            ProductVariant.quantity_available,
            ProductVariant.position,
        )
    )
