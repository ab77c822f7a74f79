"""`POST /cart/check` and the purchase limits of `POST /orders`: one check, every problem at the
kiosk, and an order over a limit refused before anything is written or queued."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ridgeline.db.engine import Database
from ridgeline.models import IdempotencyKey, Job, Order, Store
from tests.assertions import assert_error, data_of
from tests.factories import sign_in
from tests.orders.conftest import Item, Shop, add_product, count, order_body, place

CHECK = "/api/v1/cart/check"


async def set_profile(
    database: Database, store: Store, key: str | None, overrides: dict[str, Any] | None = None
) -> None:
    async with database.transaction() as session:
        row = await session.get(Store, store.id)
        assert row is not None
        row.compliance_profile = key
        row.compliance_overrides = overrides


async def flower(database: Database, shop: Shop, grams: float, **extra: Any) -> Item:
    return await add_product(database, shop.store, weight_grams=grams, quantity=20, **extra)


async def nothing_written(database: Database) -> bool:
    return (
        await count(database, Order) == 0
        and await count(database, Job) == 0
        and await count(database, IdempotencyKey) == 0
    )


async def test_the_check_answers_every_problem_and_creates_nothing(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    await set_profile(database, shop.store, "california")
    bud = await flower(database, shop, 3.5, price_cents=3000)
    cart = await add_product(
        database, shop.store, category="vape", weight_grams=1.0, price_cents=4000
    )
    scarce = await add_product(database, shop.store, weight_grams=1.0, quantity=1)
    body = order_body(
        bud.line(9),  # 31.5 g of flower: 3 g over
        cart.line(9, expected_unit_price_cents=3900),  # 9 g of concentrate: 1 g over
        scarce.line(2),  # out of stock, still counted toward nothing
    )

    data = data_of(await client.post(CHECK, json=body, headers=shop.kiosk.headers))

    assert data["orderable"] is False
    assert (data["profile"], data["customer_type"]) == ("california", "adult_use")
    assert [
        (line["index"], line["unit_price_cents"], line["line_total_cents"])
        for line in data["lines"]
    ] == [
        (0, 3000, 27000),
        (1, 4000, 36000),
        (2, 2500, 5000),
    ]
    # The profile's state taxes (no settings of the store's own): 15 % excise, then 7.25 %
    # sales tax on the price plus the excise; 41400 x 7.25 % = 3001.5 rounds half up.
    assert [(line["tax_cents"], line["total_cents"]) for line in data["lines"]] == [
        (4050 + 2251, 27000 + 4050 + 2251),
        (5400 + 3002, 36000 + 5400 + 3002),
        (750 + 417, 5000 + 750 + 417),
    ]
    totals = data["totals"]
    assert (totals["subtotal_cents"], totals["tax_cents"], totals["total_cents"]) == (
        68000,
        15870,
        83870,
    )
    assert [(tax["key"], tax["amount_cents"]) for tax in totals["taxes"]] == [
        ("ca_cannabis_excise", 10200),
        ("ca_sales", 5670),
    ]
    assert (totals["currency"], totals["tax_source"], totals["tax_effective_from"]) == (
        "USD",
        "profile",
        "2025-10-01",
    )
    assert {limit["category"]: limit for limit in data["limits"]} == {
        "non_concentrated": {
            "category": "non_concentrated",
            "unit": "g",
            "period": "day",
            "used": 33.5,
            "limit": 28.5,
            "remaining": 0.0,
            "over_by": 5.0,
        },
        "concentrate": {
            "category": "concentrate",
            "unit": "g",
            "period": "day",
            "used": 9.0,
            "limit": 8.0,
            "remaining": 0.0,
            "over_by": 1.0,
        },
    }
    problems = data["problems"]
    assert [problem["code"] for problem in problems] == [
        "OUT_OF_STOCK",
        "PRICE_CHANGED",
        "PURCHASE_LIMIT_EXCEEDED",
    ]
    assert problems[0]["details"]["index"] == 2
    assert [item["changed"] for item in problems[1]["details"]["items"]] == [False, True, False]
    over = problems[2]["details"]
    assert over["categories"] == [
        {
            "category": "non_concentrated",
            "used": 33.5,
            "limit": 28.5,
            "unit": "g",
            "period": "day",
            "over_by": 5.0,
        },
        {
            "category": "concentrate",
            "used": 9.0,
            "limit": 8.0,
            "unit": "g",
            "period": "day",
            "over_by": 1.0,
        },
    ]
    assert await nothing_written(database)


async def test_an_order_over_a_limit_is_refused_before_the_outbox(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    await set_profile(database, shop.store, "colorado")
    bud = await flower(database, shop, 14.0)
    gummies = await add_product(
        database, shop.store, category="edible", thc={"value": 100, "unit": "mg"}
    )
    # Half an ounce of flower and 500 mg of THC: 14 + 17.72 g of flower equivalent.
    body = order_body(bud.line(1), gummies.line(5))

    error = assert_error(await place(client, shop.kiosk, body), 422, "PURCHASE_LIMIT_EXCEEDED")
    details = {k: v for k, v in error["error"]["details"].items() if k != "request_id"}

    assert details == {
        "profile": "colorado",
        "customer_type": "adult_use",
        "categories": [
            {
                "category": "flower_equivalent",
                "used": 31.719,
                "limit": 28.35,
                "unit": "g_flower_equivalent",
                "period": "transaction",
                "over_by": 3.369,
            }
        ],
    }
    assert await count(database, Order) == 0
    assert await count(database, Job) == 0
    # The check answers the same refusal, for the kiosk to show before ordering.
    checked = data_of(await client.post(CHECK, json=body, headers=shop.kiosk.headers))
    assert [p["details"] for p in checked["problems"]] == [details]

    fits = order_body(bud.line(1), gummies.line(4))  # 14 + 14.175 g
    assert (await place(client, shop.kiosk, fits)).status_code == 201


@pytest.mark.parametrize(
    ("is_medical", "quantities", "status"),
    [
        (False, (1, 1), 201),  # 19 g: under
        (False, (2, 1), 201),  # 28.5 g: at the adult-use limit
        (False, (2, 2), 422),
        (True, (2, 2), 201),
        (True, (12, 11), 201),  # 217.35 g
        (True, (12, 12), 201),  # 226.8 g: at the medical limit
        (True, (12, 13), 422),
    ],
)
async def test_adult_use_and_medical_orders_meet_their_own_limits(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    is_medical: bool,
    quantities: tuple[int, int],
    status: int,
) -> None:
    """California, a day's limit per order: 28.5 g of flower for adult use, 8 oz (226.8 g) for
    patients. Patients' carts use 9.45 g sizes, so 24 of them are exactly at their limit."""
    await set_profile(database, shop.store, "california")
    size = 9.45 if is_medical else 9.5
    first, second = await flower(database, shop, size), await flower(database, shop, size)
    body = order_body(first.line(quantities[0]), second.line(quantities[1]), is_medical=is_medical)
    response = await place(client, shop.kiosk, body)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["error"]["code"] == "PURCHASE_LIMIT_EXCEEDED"


async def test_missing_weight_is_refused_or_counted_as_the_profile_says(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    unweighed = await add_product(database, shop.store, weight_grams=None)
    body = order_body(unweighed.line(2))

    await set_profile(database, shop.store, "california")
    error = assert_error(await place(client, shop.kiosk, body), 422, "COMPLIANCE_DATA_MISSING")
    assert (error["error"]["details"]["index"], error["error"]["details"]["missing"]) == (
        0,
        "weight",
    )

    await set_profile(
        database,
        shop.store,
        "california",
        {"missing_data": {"action": "default", "default_weight_grams": 14.25}},
    )
    data = data_of(await client.post(CHECK, json=body, headers=shop.kiosk.headers))
    assert data["orderable"] is True
    assert data["limits"][0]["used"] == 28.5
    assert (await place(client, shop.kiosk, body)).status_code == 201


async def test_a_store_without_a_profile_checks_no_limit(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    bud = await flower(database, shop, 100.0)
    data = data_of(
        await client.post(CHECK, json=order_body(bud.line(1)), headers=shop.kiosk.headers)
    )
    assert (data["profile"], data["limits"], data["problems"], data["orderable"]) == (
        None,
        [],
        [],
        True,
    )


async def test_operators_cannot_check_a_cart(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    bud = await flower(database, shop, 1.0)
    headers = await sign_in(client, shop.tenant.admin)
    response = await client.post(CHECK, json=order_body(bud.line(1)), headers=headers)
    assert_error(response, 403, "FORBIDDEN")
