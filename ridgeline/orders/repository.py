"""Queries over orders, their items and transitions, always scoped."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant
from ridgeline.models.order import Order, OrderItem, OrderTransition
from ridgeline.models.store import Store


async def order(
    session: AsyncSession,
    scope: TenantScope,
    order_id: uuid.UUID,
    *,
    kiosk_id: uuid.UUID | None = None,
    for_update: bool = False,
) -> Order | None:
    """The order, if `scope` may see it (and, with `kiosk_id`, only if that kiosk took it).
    `for_update` locks the row on PostgreSQL (SQLite's write transaction already serialises)."""
    statement = scoped(select(Order), Order, scope).where(Order.id == order_id)
    if kiosk_id is not None:
        statement = statement.where(Order.kiosk_id == kiosk_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def items(session: AsyncSession, scope: TenantScope, order_id: uuid.UUID) -> list[OrderItem]:
    statement = (
        scoped(select(OrderItem), OrderItem, scope)
        .where(OrderItem.order_id == order_id)
        .order_by(OrderItem.position)
    )
    return list((await session.scalars(statement)).all())


async def transitions(
    session: AsyncSession, scope: TenantScope, order_id: uuid.UUID
) -> list[OrderTransition]:
    statement = (
        scoped(select(OrderTransition), OrderTransition, scope)
        .where(OrderTransition.order_id == order_id)
        .order_by(OrderTransition.at, OrderTransition.id)
    )
    rows = list((await session.scalars(statement)).all())
    # Several transitions can share a time (a FakeClock, a fast POS): keep causal order, which
    # the status machine gives: each transition starts where the previous one ended.
    return _causal_order(rows)


def _causal_order(rows: list[OrderTransition]) -> list[OrderTransition]:
    ordered: list[OrderTransition] = []
    remaining = list(rows)
    current = None
    while remaining:
        nxt = next((row for row in remaining if row.from_status == current), remaining[0])
        ordered.append(nxt)
        remaining.remove(nxt)
        current = nxt.to_status
    return ordered


async def store(session: AsyncSession, scope: TenantScope, store_id: uuid.UUID) -> Store | None:
    return await session.scalar(scoped(select(Store), Store, scope).where(Store.id == store_id))


async def catalog_rows(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: Collection[uuid.UUID],
    variant_ids: Collection[uuid.UUID],
) -> tuple[dict[uuid.UUID, Product], dict[uuid.UUID, ProductVariant], set[uuid.UUID]]:
    """The store's products and variants among these ids, and which of the products are hidden."""
    products = {
        row.id: row
        for row in await session.scalars(
            scoped(select(Product), Product, scope).where(
                Product.store_id == store_id, Product.id.in_(list(product_ids))
            )
        )
    }
    variants = {
        row.id: row
        for row in await session.scalars(
            scoped(select(ProductVariant), ProductVariant, scope).where(
                ProductVariant.store_id == store_id, ProductVariant.id.in_(list(variant_ids))
            )
        )
    }
    hidden = set(
        await session.scalars(
            scoped(select(ProductEnrichment.product_id), ProductEnrichment, scope).where(
                ProductEnrichment.store_id == store_id,
                ProductEnrichment.product_id.in_(list(product_ids)),
                ProductEnrichment.hidden.is_(True),
            )
        )
    )
    return products, variants, hidden
