"""The order API without a POS: validation of every kind, the order and its outbox job, reads
and scoping, cancelling before submission."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ridgeline.db.engine import Database
from ridgeline.models import Job, Order, OrderItem, OrderTransition
from ridgeline.orders.cart import MAX_TOTAL_CENTS
from ridgeline.orders.service import (
    MAX_LINES,
    MAX_QUANTITY_PER_LINE,
    SUBMIT_JOB,
    submit_dedupe_key,
)
from tests.factories import sign_in
from tests.orders.conftest import (
    Shop,
    add_product,
    another_kiosk,
    bare_tenant,
    count,
    order_body,
    place,
    stream_payloads,
)


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_an_order_is_stored_with_its_job_transition_and_events(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    flower = await add_product(database, shop.store, price_cents=2500, quantity=5)
    gummies = await add_product(database, shop.store, price_cents=1800, name="Gummies")
    body = order_body(
        flower.line(2, expected_unit_price_cents=2500),
        gummies.line(1),
        customer_name="Ana",
        customer_phone="+1 555 010 0100",
    )
    response = await place(client, shop.kiosk, body)
    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert order["status"] == "received"
    assert order["reference"].startswith("RL-")
    assert len(order["reference"]) == 13
    assert order["subtotal_cents"] == 2 * 2500 + 1800
    assert order["currency"] == "USD"
    assert order["kiosk_id"] == str(shop.kiosk.kiosk.id)
    assert [(i["name"], i["quantity"], i["unit_price_cents"]) for i in order["items"]] == [
        ("Blue Dream 3.5g", 2, 2500),
        ("Gummies", 1, 1800),
    ]
    assert [(t["from_status"], t["to_status"], t["source"]) for t in order["transitions"]] == [
        (None, "received", "kiosk")
    ]
    order_id = uuid.UUID(order["id"])
    assert await count(database, Job, Job.dedupe_key == submit_dedupe_key(order_id)) == 1
    assert await count(database, Job, Job.kind == SUBMIT_JOB) == 1
    for stream in (f"order:{order_id}", f"store:{shop.store.id}"):
        [event] = await stream_payloads(database, stream)
        assert event["type"] == "order.status"
        assert event["data"]["status"] == "received"
        assert event["data"]["order_id"] == str(order_id)

    fetched = await client.get(f"/api/v1/orders/{order_id}", headers=shop.kiosk.headers)
    assert fetched.status_code == 200
    assert fetched.json() == response.json()


@pytest.mark.parametrize(
    ("product", "reason"),
    [
        ({"is_active": False}, "inactive"),
        ({"hidden": True}, "hidden"),
    ],
)
async def test_unavailable_products_are_refused(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    product: dict[str, bool],
    reason: str,
) -> None:
    ok = await add_product(database, shop.store)
    bad = await add_product(database, shop.store, **product)  # type: ignore[arg-type]
    response = await place(client, shop.kiosk, order_body(ok.line(), bad.line()))
    assert error_of(response) == (409, "PRODUCT_UNAVAILABLE")
    details = response.json()["error"]["details"]
    assert (details["index"], details["product_id"], details["reason"]) == (
        1,
        str(bad.product_id),
        reason,
    )
    assert await count(database, Order) == 0


async def test_unknown_products_and_variants_are_refused(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    ok = await add_product(database, shop.store)
    other = await add_product(database, shop.store)
    unknown = {"product_id": str(uuid.uuid4()), "variant_id": str(ok.variant_id), "quantity": 1}
    response = await place(client, shop.kiosk, order_body(unknown))
    assert error_of(response) == (409, "PRODUCT_UNAVAILABLE")
    assert response.json()["error"]["details"]["reason"] == "not_found"
    # A variant of another product.
    mixed = {"product_id": str(ok.product_id), "variant_id": str(other.variant_id), "quantity": 1}
    response = await place(client, shop.kiosk, order_body(mixed))
    assert response.json()["error"]["details"]["reason"] == "variant_not_found"
    # Another store's product is unknown here.
    elsewhere = await bare_tenant(database)
    foreign = await add_product(database, elsewhere.store)
    response = await place(client, shop.kiosk, order_body(foreign.line()))
    assert error_of(response) == (409, "PRODUCT_UNAVAILABLE")
    assert response.json()["error"]["details"]["reason"] == "not_found"


async def test_out_of_stock_names_the_item(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    ok = await add_product(database, shop.store, quantity=10)
    low = await add_product(database, shop.store, quantity=2)
    response = await place(client, shop.kiosk, order_body(ok.line(3), low.line(3)))
    assert error_of(response) == (409, "OUT_OF_STOCK")
    assert response.json()["error"]["details"] == {
        "index": 1,
        "product_id": str(low.product_id),
        "variant_id": str(low.variant_id),
        "requested": 3,
        "available": 2,
        "request_id": response.headers["x-request-id"],
    }


async def test_a_stale_price_answers_price_changed_with_current_prices(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    same = await add_product(database, shop.store, price_cents=1000)
    moved = await add_product(database, shop.store, price_cents=2200)
    body = order_body(
        same.line(1, expected_unit_price_cents=1000),
        moved.line(1, expected_unit_price_cents=2000),
    )
    response = await place(client, shop.kiosk, body)
    assert error_of(response) == (409, "PRICE_CHANGED")
    items = response.json()["error"]["details"]["items"]
    assert [
        (i["expected_unit_price_cents"], i["unit_price_cents"], i["changed"]) for i in items
    ] == [
        (1000, 1000, False),
        (2000, 2200, True),
    ]
    assert await count(database, Order) == 0
    # Confirmed at the new price, with a new key: ordered.
    body["items"][1]["expected_unit_price_cents"] = 2200
    assert (await place(client, shop.kiosk, body)).status_code == 201


async def test_limits(client: httpx.AsyncClient, database: Database, shop: Shop) -> None:
    items = [await add_product(database, shop.store, price_cents=100) for _ in range(MAX_LINES + 1)]
    response = await place(client, shop.kiosk, order_body(*(i.line() for i in items)))
    assert error_of(response) == (422, "ORDER_LIMIT_EXCEEDED")
    assert response.json()["error"]["details"]["limit"] == "lines"

    plenty = await add_product(database, shop.store, quantity=1000, price_cents=100)
    response = await place(client, shop.kiosk, order_body(plenty.line(MAX_QUANTITY_PER_LINE + 1)))
    assert error_of(response) == (422, "ORDER_LIMIT_EXCEEDED")
    assert response.json()["error"]["details"]["limit"] == "quantity"
    assert (await place(client, shop.kiosk, order_body(plenty.line(20)))).status_code == 201

    dear = await add_product(database, shop.store, price_cents=MAX_TOTAL_CENTS // 10 + 1)
    response = await place(client, shop.kiosk, order_body(dear.line(10)))
    assert error_of(response) == (422, "ORDER_LIMIT_EXCEEDED")
    details = response.json()["error"]["details"]
    assert (details["limit"], details["max"]) == ("total_cents", MAX_TOTAL_CENTS)


async def test_medical_only_items_need_a_medical_order(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    medical = await add_product(database, shop.store, medical_only=True)
    response = await place(client, shop.kiosk, order_body(medical.line()))
    assert error_of(response) == (422, "MEDICAL_ORDER_REQUIRED")
    assert response.json()["error"]["details"]["product_id"] == str(medical.product_id)
    response = await place(client, shop.kiosk, order_body(medical.line(), is_medical=True))
    assert response.status_code == 201
    assert response.json()["data"]["is_medical"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"items": [], "is_medical": False},
        {"items": "nope"},
        {"items": [{"product_id": "x", "variant_id": "y", "quantity": 1}]},
        {"items": [{"quantity": 0}]},
        {"unknown": 1, "items": []},
        {"price_cents": 1, "items": []},
    ],
)
async def test_malformed_bodies_are_422(
    client: httpx.AsyncClient, database: Database, shop: Shop, body: dict[str, object]
) -> None:
    response = await place(client, shop.kiosk, body)
    assert error_of(response) == (422, "VALIDATION_ERROR")


async def test_unknown_fields_on_items_are_refused(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    response = await place(client, shop.kiosk, order_body(item.line(1, unit_price_cents=1)))
    assert error_of(response) == (422, "VALIDATION_ERROR")
    assert response.json()["error"]["details"]["fields"][0]["type"] == "extra_forbidden"
    duplicate = order_body(item.line(1), item.line(2))
    assert error_of(await place(client, shop.kiosk, duplicate)) == (422, "VALIDATION_ERROR")
    assert await count(database, Order) == 0


async def test_the_idempotency_key_header_is_required_and_bounded(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    body = order_body(item.line())
    response = await client.post("/api/v1/orders", json=body, headers=shop.kiosk.headers)
    assert error_of(response) == (400, "IDEMPOTENCY_KEY_MISSING")
    response = await place(client, shop.kiosk, body, key="k" * 256)
    assert error_of(response) == (400, "IDEMPOTENCY_KEY_INVALID")
    assert (await place(client, shop.kiosk, body, key="k" * 255)).status_code == 201


async def test_operators_cannot_order(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    headers = {**await sign_in(client, shop.tenant.admin), "Idempotency-Key": "a"}
    response = await client.post("/api/v1/orders", json=order_body(item.line()), headers=headers)
    assert error_of(response) == (403, "FORBIDDEN")


async def test_a_kiosk_sees_only_its_own_orders(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    order_id = (await place(client, shop.kiosk, order_body(item.line()))).json()["data"]["id"]
    neighbour = await another_kiosk(database, shop.store)
    for path, method in (
        (f"/api/v1/orders/{order_id}", "GET"),
        (f"/api/v1/orders/{order_id}/cancel", "POST"),
    ):
        response = await client.request(method, path, headers=neighbour.headers)
        assert error_of(response) == (404, "NOT_FOUND")
    elsewhere = await bare_tenant(database)
    response = await client.get(
        f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {elsewhere.kiosk_key}"}
    )
    assert error_of(response) == (404, "NOT_FOUND")
    assert (
        await client.get(f"/api/v1/orders/{order_id}", headers=shop.kiosk.headers)
    ).status_code == 200


async def test_cancel_before_submission_is_local_and_final(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    order_id = (await place(client, shop.kiosk, order_body(item.line()))).json()["data"]["id"]
    path = f"/api/v1/orders/{order_id}/cancel"
    response = await client.post(path, headers=shop.kiosk.headers)
    assert response.status_code == 200, response.text
    order = response.json()["data"]
    assert order["status"] == "cancelled"
    assert [(t["from_status"], t["to_status"], t["source"]) for t in order["transitions"]] == [
        (None, "received", "kiosk"),
        ("received", "cancelled", "kiosk"),
    ]
    # Again: the same answer, nothing new.
    again = await client.post(path, headers=shop.kiosk.headers)
    assert again.status_code == 200
    assert await count(database, OrderTransition) == 2
    events = await stream_payloads(database, f"order:{order_id}")
    assert [e["data"]["status"] for e in events] == ["received", "cancelled"]
    assert await count(database, OrderItem) == 1
