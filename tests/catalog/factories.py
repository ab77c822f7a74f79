"""Small factories for catalog tests: tenants without products, products with variants,
enrichment, sync state and RFID tags, written straight to the database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from ridgeline.catalog.views import kiosk_event_data
from ridgeline.db.engine import Database
from ridgeline.models import (
    Operator,
    Organization,
    Product,
    ProductEnrichment,
    ProductVariant,
    RfidTag,
    Role,
    Store,
    StoreSyncState,
)
from ridgeline.realtime import streams
from tests.factories import make_kiosk, make_operator, make_organization, make_store


@dataclass
class Shop:
    """A store with a kiosk and operators of each writing role, and no products."""

    organization: Organization
    store: Store
    kiosk_key: str
    admin: Operator
    manager: Operator
    viewer: Operator


async def make_shop(database: Database, name: str = "Main St") -> Shop:
    organization = await make_organization(database)
    store = await make_store(database, organization, name)
    _, key, _ = await make_kiosk(database, store)
    admin = await make_operator(database, Role.ORG_ADMIN, organization)
    manager = await make_operator(database, Role.STORE_MANAGER, organization, stores=[store])
    viewer = await make_operator(database, Role.VIEWER, organization)
    return Shop(organization, store, key, admin, manager, viewer)


async def add_store(database: Database, shop: Shop, name: str) -> tuple[Store, str]:
    """Another store of the same organization, with its own kiosk key."""
    store = await make_store(database, shop.organization, name)
    _, key, _ = await make_kiosk(database, store)
    return store, key


async def make_product(
    database: Database,
    store: Store,
    name: str = "Blue Dream",
    *,
    brand: str = "Acme",
    category: str = "flower",
    strain_type: str | None = None,
    tags: Sequence[str] = (),
    image_urls: Sequence[str] = (),
    is_active: bool = True,
    prices: Sequence[tuple[int, int]] = ((2000, 5),),
    created_at: datetime | None = None,
    **fields: Any,
) -> Product:
    """A product with one variant per (price_cents, quantity_available), in that position."""
    now = datetime.now(UTC)
    async with database.transaction() as session:
        product = Product(
            organization_id=store.organization_id,
            store_id=store.id,
            external_id=f"ext-{uuid.uuid4().hex[:10]}",
            name=name,
            brand=brand,
            category=category,
            strain_type=strain_type,
            tags=list(tags),
            image_urls=list(image_urls),
            is_active=is_active,
            content_hash="0" * 64,
            synced_at=now,
            created_at=created_at or now,
            **fields,
        )
        session.add(product)
        await session.flush()
        for position, (price, quantity) in enumerate(prices):
            session.add(
                ProductVariant(
                    organization_id=store.organization_id,
                    store_id=store.id,
                    product_id=product.id,
                    external_id=f"v{position}",
                    label=f"{position + 1} g",
                    weight_grams=float(position + 1),
                    price_cents=price,
                    quantity_available=quantity,
                    position=position,
                )
            )
    return product


async def enrich(database: Database, product: Product, **fields: Any) -> None:
    async with database.transaction() as session:
        session.add(
            ProductEnrichment(
                product_id=product.id,
                organization_id=product.organization_id,
                store_id=product.store_id,
                **fields,
            )
        )


async def set_price(database: Database, product: Product, price_cents: int) -> None:
    """Every variant of the product at this price, and its `product.updated` event on the store
    stream in the same transaction (what a sync writes)."""
    async with database.transaction() as session:
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == product.id)
            .values(price_cents=price_cents)
        )
        current = await session.get(Product, product.id)
        assert current is not None
        variants = (
            await session.scalars(
                select(ProductVariant).where(ProductVariant.product_id == product.id)
            )
        ).all()
        enrichment = await session.get(ProductEnrichment, product.id)
        await streams.append(
            session,
            streams.store_stream(product.store_id),
            "product.updated",
            kiosk_event_data(current, variants, enrichment),
            at=datetime.now(UTC),
        )


async def make_sync_state(
    database: Database, store: Store, *, last_success_at: datetime | None, stale_after_s: int
) -> None:
    async with database.transaction() as session:
        session.add(
            StoreSyncState(
                store_id=store.id,
                organization_id=store.organization_id,
                last_success_at=last_success_at,
                stale_after_s=stale_after_s,
            )
        )


async def make_rfid_tag(database: Database, product: Product, tag: str) -> None:
    async with database.transaction() as session:
        session.add(
            RfidTag(
                organization_id=product.organization_id,
                store_id=product.store_id,
                tag=tag,
                product_id=product.id,
            )
        )
