"""The same cart over a purchase limit, at the kiosk and at the POS simulator's Treez over real
HTTP: the kiosk refuses it first, naming the category; the POS, sent it by a store whose limits
are off, refuses its ticket, and the order ends `rejected` with Treez's reason."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.models import Order, Product, ProductVariant, Store
from ridgeline.pos.client import PosConnector
from tests.orders.conftest import Item, PosShop, count, order_body, place, pos_shop
from tests.orders.test_cart import set_profile
from tests.orders.test_submission import read

# California, adult use: 4 CCR § 15409(a)(1), and the simulated Treez store's own limit.
FLOWER_LIMIT_GRAMS = 28.5


async def over_the_flower_limit(database: Database, store: Store) -> list[tuple[Item, int]]:
    """Synced flower sold by weight, as many units as make just over the limit."""
    async with database.transaction(write=False) as session:
        rows = await session.execute(
            select(Product, ProductVariant)
            .join(ProductVariant, ProductVariant.product_id == Product.id)
            .where(
                Product.store_id == store.id,
                Product.category == "flower",
                Product.is_active.is_(True),
                Product.is_medical_only.is_(False),
                ProductVariant.weight_grams.is_not(None),
                ProductVariant.quantity_available >= 1,
            )
            .order_by(Product.external_id)
        )
        found = [(product, variant) for product, variant in rows]
    cart: list[tuple[Item, int]] = []
    grams = 0.0
    for product, variant in found:
        if grams > FLOWER_LIMIT_GRAMS:
            break
        assert variant.weight_grams is not None
        quantity = min(variant.quantity_available, 20)
        cart.append((Item(product.id, variant.id, variant.price_cents), quantity))
        grams += variant.weight_grams * quantity
    assert grams > FLOWER_LIMIT_GRAMS, "not enough flower in the simulated catalog"
    return cart


async def test_the_kiosk_refuses_first_and_treez_refuses_the_same_cart(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
) -> None:
    shop: PosShop = await pos_shop(database, connector, control, "treez")
    cart = await over_the_flower_limit(database, shop.store)
    body = order_body(*(item.line(quantity) for item, quantity in cart))

    await set_profile(database, shop.store, "california")
    refused = await place(client, shop.kiosk, body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "PURCHASE_LIMIT_EXCEEDED"
    [category] = error["details"]["categories"]
    assert (category["category"], category["limit"]) == ("non_concentrated", FLOWER_LIMIT_GRAMS)
    assert await count(database, Order) == 0

    # The same cart from a store whose limits are off reaches the POS, which refuses it.
    await set_profile(database, shop.store, None)
    placed = await place(client, shop.kiosk, body)
    assert placed.status_code == 201, placed.text
    await worker.run_until_idle()
    order = await read(client, shop, placed.json()["data"]["id"])
    assert order["status"] == "rejected"
    reason = order["failure_reason"]
    assert reason.startswith("the POS refused the order: PURCHASE_LIMIT: non_concentrated ")
    assert f"over {FLOWER_LIMIT_GRAMS:g} g" in reason
    assert shop.sim.orders()["orders"] == []
