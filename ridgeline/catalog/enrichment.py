"""Operator rules of a store's products: the operator view (every product, hidden and inactive
included, with its enrichment apart) and enrichment changes, announced to kiosks on the store
stream in the same transaction. Services flush, never commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.api.schemas import Page, PageMeta
from ridgeline.catalog import repository
from ridgeline.catalog.schemas import EnrichmentPatch, OperatorProduct
from ridgeline.catalog.views import is_visible, kiosk_event_data, operator_view
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models.catalog import Product, ProductEnrichment
from ridgeline.realtime import streams
from ridgeline.stores import service as stores_service


async def list_products(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    page: PageRequest,
    *,
    category: str | None = None,
    brand: str | None = None,
    strain_type: str | None = None,
    is_active: bool | None = None,
    hidden: bool | None = None,
    q: str | None = None,
) -> Page[OperatorProduct]:
    store = await stores_service.get_store(session, scope, store_id)
    statement = repository.products(
        scope,
        store.id,
        category=category,
        brand=brand,
        strain_type=strain_type,
        is_active=is_active,
        hidden=hidden,
        q=q,
    )
    result = await paginate(session, statement, Product, page)
    ids = [p.id for p in result.items]
    variants = await repository.variants_by_product(session, scope, store.id, ids)
    enrichments = await repository.enrichments_by_product(session, scope, store.id, ids)
    views = [operator_view(p, variants.get(p.id, []), enrichments.get(p.id)) for p in result.items]
    return Page[OperatorProduct](
        data=views, meta=PageMeta(next_cursor=result.next_cursor, count=len(views))
    )


async def store_product(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, product_id: uuid.UUID
) -> Product:
    """A product of the store, hidden and inactive included; `NotFound` for the store or the
    product when the caller may not see it or it belongs to another store."""
    store = await stores_service.get_store(session, scope, store_id)
    product = await repository.product(session, scope, store.id, product_id)
    if product is None:
        raise NotFound("product", product_id)
    return product


async def get_product(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, product_id: uuid.UUID
) -> OperatorProduct:
    product = await store_product(session, scope, store_id, product_id)
    variants = await repository.variants_by_product(session, scope, product.store_id, [product.id])
    enrichment = await repository.enrichment(session, scope, product.store_id, product.id)
    return operator_view(product, variants.get(product.id, []), enrichment)


async def update_enrichment(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_id: uuid.UUID,
    body: EnrichmentPatch,
    *,
    now: datetime,
) -> OperatorProduct:
    """Apply the operator's changes and tell the store's kiosks: `product.updated` when the
    product is visible after the change, `product.deactivated` when the change hid it."""
    product = await store_product(session, scope, store_id, product_id)
    enrichment = await repository.enrichment(session, scope, product.store_id, product.id)
    if enrichment is None:
        enrichment = ProductEnrichment(
            product_id=product.id,
            organization_id=product.organization_id,
            store_id=product.store_id,
            description=None,
            images=[],
            tags=[],
            hidden=False,
            featured=False,
            sort_order=0,
        )
        session.add(enrichment)
    was_visible = is_visible(product, enrichment)
    for field, value in body.changes().items():
        setattr(enrichment, field, value)
    enrichment.updated_at = now
    await session.flush()
    variants = (
        await repository.variants_by_product(session, scope, product.store_id, [product.id])
    ).get(product.id, [])
    visible = is_visible(product, enrichment)
    if visible or was_visible:
        await streams.append(
            session,
            streams.store_stream(product.store_id),
            "product.updated" if visible else "product.deactivated",
            kiosk_event_data(product, variants, enrichment),
            at=now,
        )
    return operator_view(product, variants, enrichment)
