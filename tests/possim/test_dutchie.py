"""Dutchie as docs/pos/dutchie.md describes it."""

from __future__ import annotations

from typing import Any

import httpx

from ridgeline.clock import FakeClock
from ridgeline.possim import Simulator
from ridgeline.possim.model import iso_ms
from tests.possim.conftest import PRODUCTS
from tests.possim.dialect_calls import dutchie_headers

Stores = dict[str, dict[str, Any]]


def _config(stores: Stores) -> dict[str, Any]:
    config: dict[str, Any] = stores["dutchie"]["config"]
    return config


async def test_whoami_answers_in_pascal_case(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    config = _config(stores)
    response = await sim_client.get(f"{config['base_url']}/whoami", headers=dutchie_headers(config))
    assert response.status_code == 200
    body = response.json()
    assert body["LocationId"] == stores["dutchie"]["location_id"]
    assert body["LocationName"] == stores["dutchie"]["name"]
    assert body["Scopes"] == ["Products", "Inventory", "PreOrder"]


async def test_bad_keys_are_refused(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    config = _config(stores)
    url = f"{config['base_url']}/whoami"
    unknown = await sim_client.get(url, headers=dutchie_headers({**config, "api_key": "nope"}))
    assert unknown.status_code == 401
    assert unknown.json() == {"Message": "Authorization has been denied for this request."}
    wrong_password = await sim_client.get(url, headers=dutchie_headers(config, password="x"))
    assert wrong_password.status_code == 401
    with_integrator = dutchie_headers(config, password=config["integrator_key"])
    assert (await sim_client.get(url, headers=with_integrator)).status_code == 200
    assert (await sim_client.get(url)).status_code == 401


async def test_a_missing_scope_is_403(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    config = _config(stores)
    changed = await sim_client.patch("/_sim/stores/dutchie-1", json={"scopes": ["Products"]})
    assert changed.status_code == 200
    headers = dutchie_headers(config)
    assert (
        await sim_client.get(f"{config['base_url']}/products", headers=headers)
    ).status_code == 200
    denied = await sim_client.get(f"{config['base_url']}/inventory", headers=headers)
    assert denied.status_code == 403
    assert "Message" in denied.json()


async def test_products_is_the_whole_catalog_in_one_array(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    response = await sim_client.get(
        f"{config['base_url']}/products", headers=dutchie_headers(config)
    )
    products = response.json()
    assert isinstance(products, list)
    assert len(products) == PRODUCTS
    catalog = sim.stores["dutchie-1"].products
    assert {str(p["productId"]) for p in products} == set(catalog)
    first = products[0]
    for field in (
        "sku",
        "productName",
        "masterCategory",
        "brandName",
        "strainType",
        "thcContent",
        "recPrice",
        "netWeight",
        "unitType",
        "isActive",
        "tags",
        "lastModifiedDateUTC",
    ):
        assert field in first
    active = await sim_client.get(
        f"{config['base_url']}/products",
        params={"isActive": "true"},
        headers=dutchie_headers(config),
    )
    assert all(p["isActive"] for p in active.json())
    assert len(active.json()) == sum(p.active for p in catalog.values())


async def test_products_since_a_date_returns_only_changes(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    config = _config(stores)
    headers = dutchie_headers(config)
    since = iso_ms(clock.now())
    clock.advance(5)
    product_id = next(iter(sim.stores["dutchie-1"].products))
    await sim_client.patch(
        f"/_sim/stores/dutchie-1/products/{product_id}", json={"price_cents": 1234}
    )
    response = await sim_client.get(
        f"{config['base_url']}/products",
        params={"fromLastModifiedDateUTC": since},
        headers=headers,
    )
    assert [(str(p["productId"]), p["price"]) for p in response.json()] == [(product_id, 12.34)]
    bad = await sim_client.get(
        f"{config['base_url']}/products",
        params={"fromLastModifiedDateUTC": "yesterday"},
        headers=headers,
    )
    assert bad.status_code == 400
    log = (await sim_client.get("/_sim/stores/dutchie-1/requests")).json()["requests"]
    assert [r["endpoint"] for r in log[-2:]] == ["products_changed", "products_changed"]


async def test_inventory_omits_zero_stock_and_splits_some_batches(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    store = sim.stores["dutchie-1"]
    emptied = next(iter(store.products))
    await sim_client.patch(f"/_sim/stores/dutchie-1/products/{emptied}", json={"quantity": 0})
    rows = (
        await sim_client.get(f"{config['base_url']}/inventory", headers=dutchie_headers(config))
    ).json()
    totals: dict[str, int] = {}
    for row in rows:
        totals[str(row["productId"])] = (
            totals.get(str(row["productId"]), 0) + row["quantityAvailable"]
        )
    assert emptied not in totals
    assert totals == {pid: p.quantity for pid, p in store.products.items() if p.quantity > 0}
    assert len(rows) > len(totals), "some products should come in two batches"


async def _submit(
    client: httpx.AsyncClient, config: dict[str, Any], items: list[dict[str, Any]], key: str
) -> httpx.Response:
    return await client.post(
        f"{config['base_url']}/preorder/submit",
        headers=dutchie_headers(config, consumer=True),
        json={
            "customerId": None,
            "items": items,
            "orderType": "Pickup",
            "notes": "RL-ABCDEFGH23 kiosk 4",
            "idempotencyKey": key,
        },
    )


def _stocked(sim: Simulator, store_id: str, at_least: int = 3) -> str:
    return next(
        pid
        for pid, p in sim.stores[store_id].products.items()
        if p.quantity >= at_least and p.active
    )


async def test_preorders_are_deduplicated_on_the_idempotency_key(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    product_id = _stocked(sim, "dutchie-1")
    before = sim.stores["dutchie-1"].products[product_id].quantity
    items = [{"productId": int(product_id), "quantity": 2}]
    first = await _submit(sim_client, config, items, "key-1")
    again = await _submit(sim_client, config, items, "key-1")
    assert first.status_code == again.status_code == 200
    assert first.json()["PreOrderId"] == again.json()["PreOrderId"]
    assert first.json()["Status"] == "Submitted"
    assert sim.stores["dutchie-1"].products[product_id].quantity == before - 2
    orders = (await sim_client.get("/_sim/stores/dutchie-1/orders")).json()["orders"]
    assert len(orders) == 1
    assert orders[0]["idempotency_key"] == "key-1"
    assert orders[0]["reference"] == "RL-ABCDEFGH23"
    assert orders[0]["create_requests"] == 2


async def test_preorder_status_and_cancel(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    product_id = _stocked(sim, "dutchie-1")
    before = sim.stores["dutchie-1"].products[product_id].quantity
    created = await _submit(
        sim_client, config, [{"productId": int(product_id), "quantity": 1}], "k"
    )
    order_id = created.json()["PreOrderId"]
    headers = dutchie_headers(config, consumer=True)
    status = await sim_client.get(
        f"{config['base_url']}/preorder/Status", params={"PreOrderId": order_id}, headers=headers
    )
    assert status.json()["Status"] == "Submitted"
    assert "LastModifiedDateUTC" in status.json()
    cancelled = await sim_client.post(
        f"{config['base_url']}/preorder/cancel", json={"PreOrderId": order_id}, headers=headers
    )
    assert cancelled.json() == {"PreOrderId": order_id, "Status": "Cancelled"}
    assert sim.stores["dutchie-1"].products[product_id].quantity == before
    missing = await sim_client.get(
        f"{config['base_url']}/preorder/Status", params={"PreOrderId": 1}, headers=headers
    )
    assert missing.status_code == 404


async def test_a_complete_preorder_cannot_be_cancelled(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    product_id = _stocked(sim, "dutchie-1")
    created = await _submit(
        sim_client, config, [{"productId": int(product_id), "quantity": 1}], "c"
    )
    order_id = created.json()["PreOrderId"]
    moved = await sim_client.post(
        f"/_sim/stores/dutchie-1/orders/{order_id}/status", json={"status": "Complete"}
    )
    assert moved.status_code == 200
    refused = await sim_client.post(
        f"{config['base_url']}/preorder/cancel",
        json={"PreOrderId": order_id},
        headers=dutchie_headers(config, consumer=True),
    )
    assert refused.status_code == 400


async def test_preorders_check_products_stock_and_consumer_key(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    product_id = _stocked(sim, "dutchie-1")
    quantity = sim.stores["dutchie-1"].products[product_id].quantity
    unknown = await _submit(sim_client, config, [{"productId": 1, "quantity": 1}], "u")
    assert unknown.status_code == 400
    assert "does not exist" in unknown.json()["Message"]
    short = await _submit(
        sim_client, config, [{"productId": int(product_id), "quantity": quantity + 1}], "s"
    )
    assert short.status_code == 400
    no_consumer = await sim_client.post(
        f"{config['base_url']}/preorder/submit",
        headers=dutchie_headers(config),
        json={"items": [{"productId": int(product_id), "quantity": 1}], "idempotencyKey": "n"},
    )
    assert no_consumer.status_code == 401
    assert sim.stores["dutchie-1"].orders == {}


async def test_rate_limits_are_per_key_endpoint_and_minute(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    headers = dutchie_headers(config)
    clock.advance(60 - clock.now().timestamp() % 60)  # start of a minute
    url = f"{config['base_url']}/products"
    for _ in range(120):
        assert (await sim_client.get(url, headers=headers)).status_code == 200
    limited = await sim_client.get(url, headers=headers)
    assert limited.status_code == 429
    assert limited.json()["Message"] == "Too many requests - only 120 per minute allowed"
    assert limited.json()["TraceId"]
    assert "retry-after" not in limited.headers
    whoami = await sim_client.get(f"{config['base_url']}/whoami", headers=headers)
    assert whoami.status_code == 200, "each endpoint has its own counter"
    clock.advance(60)
    assert (await sim_client.get(url, headers=headers)).status_code == 200


async def test_whoami_allows_200_a_minute(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    headers = dutchie_headers(config)
    clock.advance(60 - clock.now().timestamp() % 60)
    url = f"{config['base_url']}/whoami"
    statuses = [(await sim_client.get(url, headers=headers)).status_code for _ in range(201)]
    assert statuses[:200] == [200] * 200
    assert statuses[200] == 429
    assert "only 200 per minute" in (await sim_client.get(url, headers=headers)).json()["Message"]


async def test_preorder_calls_allow_240_a_minute(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    headers = dutchie_headers(config, consumer=True)
    clock.advance(60 - clock.now().timestamp() % 60)
    url = f"{config['base_url']}/preorder/Status"
    statuses = [
        (await sim_client.get(url, params={"PreOrderId": 1}, headers=headers)).status_code
        for _ in range(241)
    ]
    assert statuses == [404] * 240 + [429]
