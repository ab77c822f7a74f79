"""Queries over orders, their items and transitions, always scoped."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant
from ridgeline.models.health import StoreHealth
from ridgeline.models.order import (
    IdempotencyKey,
    IdempotencyStatus,
    Order,
    OrderItem,
    OrderStatus,
    OrderTransition,
)
from ridgeline.models.pos_call import PosCall
from ridgeline.models.store import Store

# Background work (queues, polls, pushed events) acts for every tenant.
EVERYWHERE = TenantScope.everything()


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


async def store_paused(session: AsyncSession, scope: TenantScope, store_id: uuid.UUID) -> bool:
    """Whether an operator paused the store (it takes no orders)."""
    statement = scoped(select(StoreHealth.paused_at), StoreHealth, scope).where(
        StoreHealth.store_id == store_id
    )
    return await session.scalar(statement) is not None


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


# --- operator views ------------------------------------------------------------------------------


def store_orders(
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    statuses: Collection[OrderStatus] = (),
    kiosk_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Order]:
    """The store's orders matching the filters (the caller pages it)."""
    statement = scoped(select(Order), Order, scope).where(Order.store_id == store_id)
    if statuses:
        statement = statement.where(Order.status.in_(list(statuses)))
    if kiosk_id is not None:
        statement = statement.where(Order.kiosk_id == kiosk_id)
    if since is not None:
        statement = statement.where(Order.created_at >= since)
    if until is not None:
        statement = statement.where(Order.created_at <= until)
    return statement


async def items_of(
    session: AsyncSession, scope: TenantScope, order_ids: Collection[uuid.UUID]
) -> list[OrderItem]:
    """The items of several orders at once."""
    statement = scoped(select(OrderItem), OrderItem, scope).where(
        OrderItem.order_id.in_(list(order_ids))
    )
    return list((await session.scalars(statement)).all())


async def pos_calls(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    endpoints: Collection[str],
    *,
    start: datetime,
    end: datetime | None,
    limit: int,
) -> list[PosCall]:
    """The store's calls to these endpoint classes in [start, end] (no end: until now), oldest
    first, at most `limit`."""
    statement = scoped(select(PosCall), PosCall, scope).where(
        PosCall.store_id == store_id,
        PosCall.endpoint.in_(list(endpoints)),
        PosCall.at >= start,
    )
    if end is not None:
        statement = statement.where(PosCall.at <= end)
    statement = statement.order_by(PosCall.at, PosCall.id).limit(limit)
    return list((await session.scalars(statement)).all())


# --- the store queues ----------------------------------------------------------------------------


async def stores_with_waiting_orders(
    session: AsyncSession, *, received_before: datetime
) -> set[uuid.UUID]:
    """Stores with orders queued for their POS, or received and stranded (placed before
    `received_before` and never attempted), except stores an operator paused."""
    paused = scoped(select(StoreHealth.store_id), StoreHealth, EVERYWHERE).where(
        StoreHealth.paused_at.is_not(None)
    )
    statement = (
        scoped(select(Order.store_id), Order, EVERYWHERE)
        .where(
            or_(
                Order.status == OrderStatus.QUEUED,
                (Order.status == OrderStatus.RECEIVED) & (Order.created_at <= received_before),
            ),
            Order.store_id.not_in(paused),
        )
        .distinct()
    )
    return set(await session.scalars(statement))


async def queue_head(
    session: AsyncSession, store_id: uuid.UUID, statuses: Collection[OrderStatus]
) -> uuid.UUID | None:
    """The store's oldest order in one of `statuses`: the front of its queue."""
    statement = (
        scoped(select(Order.id), Order, EVERYWHERE)
        .where(Order.store_id == store_id, Order.status.in_(list(statuses)))
        .order_by(Order.created_at, Order.id)
        .limit(1)
    )
    return await session.scalar(statement)


async def overdue_orders(
    session: AsyncSession,
    statuses: Collection[OrderStatus],
    *,
    now: datetime,
    store_id: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """Orders in one of `statuses` past their submission deadline (all stores', or one's)."""
    statement = scoped(select(Order.id), Order, EVERYWHERE).where(
        Order.status.in_(list(statuses)),
        Order.submit_deadline_at <= now,
    )
    if store_id is not None:
        statement = statement.where(Order.store_id == store_id)
    return list(await session.scalars(statement.limit(limit)))


async def queued_ahead(session: AsyncSession, order: Order) -> int:
    """How many of the store's orders placed before this one wait in its queue."""
    statement = scoped(select(func.count()).select_from(Order), Order, EVERYWHERE).where(
        Order.store_id == order.store_id,
        Order.status == OrderStatus.QUEUED,
        Order.id != order.id,
        Order.created_at <= order.created_at,
    )
    return int(await session.scalar(statement) or 0)


# --- tracking ------------------------------------------------------------------------------------


async def stores_with_open_orders(
    session: AsyncSession, statuses: Collection[OrderStatus]
) -> list[uuid.UUID]:
    """Stores with orders at the POS (a POS order id) in one of `statuses`."""
    statement = (
        scoped(select(Order.store_id), Order, EVERYWHERE)
        .where(Order.status.in_(list(statuses)), Order.pos_order_id.is_not(None))
        .distinct()
    )
    return list((await session.scalars(statement)).all())


async def open_orders(
    session: AsyncSession, store_id: uuid.UUID, statuses: Collection[OrderStatus], *, limit: int
) -> list[Order]:
    """The store's orders at the POS in one of `statuses`, least recently changed first."""
    statement = (
        scoped(select(Order), Order, EVERYWHERE)
        .where(
            Order.store_id == store_id,
            Order.status.in_(list(statuses)),
            Order.pos_order_id.is_not(None),
        )
        .order_by(Order.status_changed_at, Order.id)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def orders_matching(
    session: AsyncSession,
    store_id: uuid.UUID,
    *,
    reference: str | None,
    pos_order_id: str | None,
) -> list[Order]:
    """The store's orders with our reference or the POS's order id, oldest first, locked."""
    conditions: list[ColumnElement[bool]] = [
        *([Order.reference == reference] if reference else []),
        *([Order.pos_order_id == pos_order_id] if pos_order_id else []),
    ]
    statement = (
        scoped(select(Order), Order, EVERYWHERE)
        .where(Order.store_id == store_id, or_(*conditions))
        .order_by(Order.created_at)
        .with_for_update()
    )
    return list((await session.scalars(statement)).all())


# --- idempotency keys ----------------------------------------------------------------------------


async def insert_idempotency_key(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Inserts the key's row; None when the kiosk already has that key. ON CONFLICT DO NOTHING
    rather than catching IntegrityError: the transaction stays usable."""
    if session.get_bind().dialect.name == "postgresql":
        pg_insert = postgresql.insert(IdempotencyKey).values(values)
        statement = pg_insert.on_conflict_do_nothing(index_elements=["kiosk_id", "key"]).returning(
            IdempotencyKey.id
        )
    else:
        lite_insert = sqlite.insert(IdempotencyKey).values(values)
        statement = lite_insert.on_conflict_do_nothing(
            index_elements=["kiosk_id", "key"]
        ).returning(IdempotencyKey.id)
    return (await session.execute(statement)).scalar_one_or_none()


async def idempotency_key(
    session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID, key: str
) -> IdempotencyKey | None:
    """The kiosk's key row, locked."""
    return await session.scalar(
        scoped(select(IdempotencyKey), IdempotencyKey, scope)
        .where(IdempotencyKey.kiosk_id == kiosk_id, IdempotencyKey.key == key)
        .with_for_update()
    )


async def complete_idempotency_key(
    session: AsyncSession, key_id: uuid.UUID, lock_token: str, values: dict[str, Any]
) -> bool:
    """Sets `values` on the key if this lock still holds it in flight; False when it does not."""
    result = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == key_id,
            IdempotencyKey.lock_token == lock_token,
            IdempotencyKey.status == IdempotencyStatus.IN_FLIGHT,
        )
        .values(values)
    )
    return _rowcount(result) == 1


async def delete_idempotency_key(session: AsyncSession, key_id: uuid.UUID, lock_token: str) -> None:
    """Deletes the key if this lock still holds it."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.id == key_id, IdempotencyKey.lock_token == lock_token
        )
    )


async def purge_idempotency_keys(session: AsyncSession, *, now: datetime) -> None:
    """Deletes the keys that expired by `now`."""
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
