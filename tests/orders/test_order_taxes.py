"""Taxes at the kiosk and on orders: the cart check shows each line's taxes and the total, the
order keeps the same figures (never recomputed when the rates change), and the operator's order
detail shows them with the limits the order used."""

from __future__ import annotations

from typing import Any

import httpx

from ridgeline.db.engine import Database
from ridgeline.models import Order, Store
from tests.assertions import assert_error, data_of
from tests.factories import sign_in
from tests.orders.conftest import Shop, add_product, count, order_body, place

CHECK = "/api/v1/cart/check"


def schedule(*taxes: dict[str, Any], day: str = "2020-01-01") -> dict[str, Any]:
    return {"schedules": [{"effective_from": day, "taxes": list(taxes)}]}


EXCISE = {
    "key": "excise",
    "name": "Excise",
    "kind": "excise",
    "rate": "15",
    "categories": ["flower", "vape"],
    "customers": ["adult_use"],
    "in_sales_tax_base": True,
}
SALES = {"key": "sales", "name": "Sales", "kind": "sales", "rate": "7.25"}
PER_GRAM = {
    "key": "per_gram",
    "name": "Per gram",
    "kind": "excise",
    "basis": "weight",
    "rate": "10",
    "unit": "g",
    "categories": ["flower"],
}


async def configure(
    database: Database,
    store: Store,
    taxes: dict[str, Any] | None,
    profile: str | None = None,
) -> None:
    async with database.transaction() as session:
        row = await session.get(Store, store.id)
        assert row is not None
        row.tax_settings = taxes
        row.compliance_profile = profile


def detail_url(shop: Shop, order_id: str) -> str:
    return f"/api/v1/stores/{shop.store.id}/orders/{order_id}"


async def test_an_order_keeps_the_figures_the_check_showed(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    await configure(database, shop.store, schedule(EXCISE, SALES), profile="california")
    bud = await add_product(database, shop.store, weight_grams=3.5, price_cents=3333)
    pipe = await add_product(database, shop.store, category="accessory", price_cents=1999)
    body = order_body(bud.line(3), pipe.line(1))

    check = data_of(await client.post(CHECK, json=body, headers=shop.kiosk.headers))
    assert check["orderable"] is True
    # 9999 -> excise 1499.85 -> 1500; sales on 11499 = 833.6775 -> 834. 1999 -> sales 144.93.
    assert [(line["taxes"], line["tax_cents"], line["total_cents"]) for line in check["lines"]] == [
        (
            [{"key": "excise", "amount_cents": 1500}, {"key": "sales", "amount_cents": 834}],
            2334,
            12333,
        ),
        ([{"key": "sales", "amount_cents": 145}], 145, 2144),
    ]
    totals = check["totals"]
    assert (totals["subtotal_cents"], totals["tax_cents"], totals["total_cents"]) == (
        11998,
        2479,
        14477,
    )
    assert totals["tax_source"] == "store"
    assert [(t["key"], t["kind"], t["rate"], t["amount_cents"]) for t in totals["taxes"]] == [
        ("excise", "excise", "15", 1500),
        ("sales", "sales", "7.25", 979),
    ]

    placed = data_of(await place(client, shop.kiosk, body), 201)
    assert (placed["subtotal_cents"], placed["tax_cents"], placed["total_cents"]) == (
        11998,
        2479,
        14477,
    )
    assert placed["taxes"] == totals["taxes"]

    # New rates change the next cart, never the order taken.
    await configure(database, shop.store, schedule({**SALES, "rate": "10"}), profile="california")
    again = data_of(await client.post(CHECK, json=body, headers=shop.kiosk.headers))
    assert again["totals"]["tax_cents"] == 1000 + 200
    admin = await sign_in(client, shop.tenant.admin)
    detail = data_of(await client.get(detail_url(shop, placed["id"]), headers=admin))
    assert (detail["tax_cents"], detail["total_cents"], detail["taxes"]) == (
        2479,
        14477,
        totals["taxes"],
    )
    assert detail["tax_lines"] == [
        {"position": 0, "taxes": check["lines"][0]["taxes"], "tax_cents": 2334},
        {"position": 1, "taxes": check["lines"][1]["taxes"], "tax_cents": 145},
    ]
    assert (detail["tax_effective_from"], detail["tax_source"]) == ("2020-01-01", "store")
    # The limits it used when it was taken: 10.5 g of California's 28.5.
    limits = detail["limits"]
    assert (limits["profile"], limits["customer_type"]) == ("california", "adult_use")
    used = {row["category"]: (row["used"], row["limit"]) for row in limits["categories"]}
    assert used == {"non_concentrated": (10.5, 28.5), "concentrate": (0.0, 8.0)}
    # Not submitted yet: no POS total to compare.
    assert (detail["pos_total_cents"], detail["pos_total_difference_cents"]) == (None, None)
    listed = data_of(await client.get(f"/api/v1/stores/{shop.store.id}/orders", headers=admin))
    assert [row["total_cents"] for row in listed] == [14477]


async def test_a_medical_order_is_exempt_as_the_schedule_says(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    await configure(database, shop.store, schedule(EXCISE, SALES))
    bud = await add_product(database, shop.store, weight_grams=3.5, price_cents=10000)
    body = order_body(bud.line(1), is_medical=True)
    totals = data_of(await client.post(CHECK, json=body, headers=shop.kiosk.headers))["totals"]
    assert [(t["key"], t["amount_cents"]) for t in totals["taxes"]] == [("sales", 725)]
    placed = data_of(await place(client, shop.kiosk, body), 201)
    assert (placed["tax_cents"], placed["total_cents"]) == (725, 10725)
    admin = await sign_in(client, shop.tenant.admin)
    detail = data_of(await client.get(detail_url(shop, placed["id"]), headers=admin))
    assert detail["limits"] is None  # no profile: no limits were checked


async def test_a_weight_tax_without_a_weight_refuses_the_line(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    await configure(database, shop.store, schedule(PER_GRAM, SALES))
    weighed = await add_product(database, shop.store, weight_grams=3.5, price_cents=3000)
    unweighed = await add_product(database, shop.store, weight_grams=None)
    check = data_of(
        await client.post(
            CHECK, json=order_body(weighed.line(2), unweighed.line(1)), headers=shop.kiosk.headers
        )
    )
    # 7 g at 10 cents = 70; sales on the price only (not in the base): 6000 x 7.25 % = 435.
    assert check["lines"][0]["taxes"] == [
        {"key": "per_gram", "amount_cents": 70},
        {"key": "sales", "amount_cents": 435},
    ]
    assert [(p["code"], p["details"].get("tax")) for p in check["problems"]] == [
        ("COMPLIANCE_DATA_MISSING", "per_gram")
    ]
    refused = await place(client, shop.kiosk, order_body(unweighed.line(1)))
    error = assert_error(refused, 422, "COMPLIANCE_DATA_MISSING")
    assert (error["error"]["details"]["missing"], error["error"]["details"]["tax"]) == (
        "weight",
        "per_gram",
    )
    assert await count(database, Order) == 0


async def test_a_store_without_taxes_totals_its_subtotal(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store, price_cents=2500)
    placed = data_of(await place(client, shop.kiosk, order_body(item.line(2))), 201)
    assert (placed["subtotal_cents"], placed["tax_cents"], placed["total_cents"]) == (
        5000,
        0,
        5000,
    )
    assert placed["taxes"] == []
