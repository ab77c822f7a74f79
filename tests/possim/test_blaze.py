"""BLAZE as docs/pos/blaze.md describes it: two key headers, skip/limit/total, carts, webhooks."""

from __future__ import annotations

from typing import Any

import httpx

from ridgeline.clock import FakeClock
from ridgeline.possim import Simulator
from ridgeline.possim.model import epoch_ms
from tests.possim.conftest import PRODUCTS
from tests.possim.dialect_calls import blaze_headers
from tests.possim.servers import Receiver

Stores = dict[str, dict[str, Any]]


def _config(stores: Stores) -> dict[str, Any]:
    config: dict[str, Any] = stores["blaze"]["config"]
    return config


async def test_both_keys_are_required(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    config = _config(stores)
    url = f"{config['base_url']}/store"
    ok = await sim_client.get(url, headers=blaze_headers(config))
    assert ok.json() == {"id": stores["blaze"]["shop_id"], "name": stores["blaze"]["name"]}
    wrong_partner = await sim_client.get(url, headers=blaze_headers({**config, "partner_key": "x"}))
    assert wrong_partner.status_code == 401
    assert wrong_partner.json() == {"message": "Invalid credentials"}
    wrong_shop = await sim_client.get(url, headers=blaze_headers({**config, "api_key": "x"}))
    assert wrong_shop.status_code == 401


async def test_products_page_with_skip_limit_and_total(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    seen: list[str] = []
    skip = 0
    while True:
        page = (
            await sim_client.get(
                f"{config['base_url']}/products",
                params={"skip": skip, "limit": 25},
                headers=blaze_headers(config),
            )
        ).json()
        assert (page["skip"], page["limit"], page["total"]) == (skip, 25, PRODUCTS)
        seen += [p["id"] for p in page["values"]]
        skip += len(page["values"])
        if skip >= page["total"]:
            break
    assert seen == list(sim.stores["blaze-3"].products)
    too_big = await sim_client.get(
        f"{config['base_url']}/products", params={"limit": 501}, headers=blaze_headers(config)
    )
    assert too_big.status_code == 400


async def test_active_and_instock_filters(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    response = await sim_client.get(
        f"{config['base_url']}/products",
        params={"active": "true", "instock": "true", "limit": 500},
        headers=blaze_headers(config),
    )
    values = response.json()["values"]
    expected = [p for p in sim.stores["blaze-3"].products.values() if p.active and p.quantity > 0]
    assert len(values) == len(expected) == response.json()["total"]
    assert all(v["instock"] and v["active"] for v in values)
    assert sum(q["quantity"] for q in values[0]["quantities"]) == expected[0].quantity


async def test_flower_has_price_breaks(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    config = _config(stores)
    values = (
        await sim_client.get(
            f"{config['base_url']}/products", params={"limit": 500}, headers=blaze_headers(config)
        )
    ).json()["values"]
    flower = [v for v in values if v["category"]["name"] == "Flower"]
    assert any(len(v["priceBreaks"]) >= 2 for v in flower)
    assert {v["weightPerUnit"] for v in flower} <= {
        "HALF_GRAM",
        "FULL_GRAM",
        "EIGHTH",
        "FOURTH",
        "HALF_OUNCE",
        "OUNCE",
    }


async def test_modified_lists_changes_and_deletions_between_dates(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    config = _config(stores)
    start = epoch_ms(clock.now())
    clock.advance(5)
    renamed, restocked, removed = list(sim.stores["blaze-3"].products)[:3]
    await sim_client.patch(f"/_sim/stores/blaze-3/products/{renamed}", json={"name": "Renamed"})
    await sim_client.patch(f"/_sim/stores/blaze-3/products/{restocked}", json={"quantity": 5})
    assert (await sim_client.delete(f"/_sim/stores/blaze-3/products/{removed}")).status_code == 204
    response = await sim_client.get(
        f"{config['base_url']}/products/modified",
        params={"startDate": start, "endDate": epoch_ms(clock.now()), "skip": 0, "limit": 100},
        headers=blaze_headers(config),
    )
    values = {v["id"]: v for v in response.json()["values"]}
    assert set(values) == {renamed, restocked, removed}
    assert values[renamed]["name"] == "Renamed"
    assert values[removed]["deleted"] is True
    full = await sim_client.get(
        f"{config['base_url']}/products", params={"limit": 500}, headers=blaze_headers(config)
    )
    assert removed not in {v["id"] for v in full.json()["values"]}


async def test_inventory_endpoints(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    inventory = await sim_client.get(
        f"{config['base_url']}/store/inventory/products",
        params={"limit": 500},
        headers=blaze_headers(config),
    )
    stock = {v["productId"]: v["quantity"] for v in inventory.json()["values"]}
    assert stock == {pid: p.quantity for pid, p in sim.stores["blaze-3"].products.items()}
    batches = await sim_client.get(
        f"{config['base_url']}/store/batches/quantities", headers=blaze_headers(config)
    )
    assert all(b["quantity"] > 0 for b in batches.json()["values"])


def _stocked(sim: Simulator) -> str:
    return next(
        pid for pid, p in sim.stores["blaze-3"].products.items() if p.quantity >= 3 and p.active
    )


async def test_cart_flow_prepare_submit_lookup_cancel(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    base, headers = config["base_url"], blaze_headers(config)
    product_id = _stocked(sim)
    before = sim.stores["blaze-3"].products[product_id].quantity
    prepared = await sim_client.post(
        f"{base}/store/cart/prepare",
        headers=headers,
        json={
            "externalId": "RL-CART000001",
            "memo": "kiosk",
            "consumer": {"name": "K"},
            "items": [{"productId": product_id, "quantity": 2}],
        },
    )
    cart = prepared.json()
    assert cart["status"] == "InProgress"
    assert sim.stores["blaze-3"].products[product_id].quantity == before, "not taken until placed"
    submitted = await sim_client.post(f"{base}/store/cart/submitCart/{cart['id']}", headers=headers)
    assert submitted.json()["status"] == "Placed"
    assert sim.stores["blaze-3"].products[product_id].quantity == before - 2
    again = await sim_client.post(f"{base}/store/cart/submitCart/{cart['id']}", headers=headers)
    assert again.status_code == 400
    fetched = await sim_client.get(f"{base}/store/cart/{cart['id']}", headers=headers)
    assert fetched.json()["status"] == "Placed"
    found = await sim_client.get(
        f"{base}/store/carts", params={"externalId": "RL-CART000001"}, headers=headers
    )
    assert [c["id"] for c in found.json()["values"]] == [cart["id"]]
    cancelled = await sim_client.delete(
        f"{base}/store/cart/cancelCart/{cart['id']}", headers=headers
    )
    assert cancelled.json()["status"] == "CanceledByConsumer"
    assert sim.stores["blaze-3"].products[product_id].quantity == before
    missing = await sim_client.get(f"{base}/store/cart/nope", headers=headers)
    assert missing.status_code == 404


async def test_a_cart_cannot_take_more_than_the_stock(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    product_id = _stocked(sim)
    quantity = sim.stores["blaze-3"].products[product_id].quantity
    response = await sim_client.post(
        f"{config['base_url']}/store/cart/prepare",
        headers=blaze_headers(config),
        json={
            "externalId": "RL-CART000002",
            "items": [{"productId": product_id, "quantity": quantity + 1}],
        },
    )
    assert response.status_code == 400
    assert "stock" in response.json()["message"]


async def test_registered_webhooks_receive_product_and_order_events(
    sim_client: httpx.AsyncClient,
    stores: Stores,
    sim: Simulator,
    receiver: tuple[Receiver, str],
) -> None:
    config = _config(stores)
    base, headers = config["base_url"], blaze_headers(config)
    inbox, url = receiver
    for kind in ("UPDATE_PRODUCT", "NEW_CONSUMER_ORDER", "UPDATE_CONSUMER_ORDER"):
        registered = await sim_client.post(
            f"{base}/webHooks",
            headers=headers,
            json={
                "webHookType": kind,
                "webHookUrls": [f"{url}/{kind}"],
                "shopId": stores["blaze"]["shop_id"],
            },
        )
        assert registered.status_code == 200
    product_id = _stocked(sim)
    await sim_client.patch(f"/_sim/stores/blaze-3/products/{product_id}", json={"price_cents": 999})
    cart = (
        await sim_client.post(
            f"{base}/store/cart/prepare",
            headers=headers,
            json={
                "externalId": "RL-HOOK000001",
                "items": [{"productId": product_id, "quantity": 1}],
            },
        )
    ).json()
    await sim_client.post(f"{base}/store/cart/submitCart/{cart['id']}", headers=headers)
    await sim_client.post(
        f"/_sim/stores/blaze-3/orders/{cart['id']}/status", json={"status": "Accepted"}
    )
    received = await inbox.wait_for(3)
    by_path = dict(received)
    assert by_path["/UPDATE_PRODUCT"]["data"]["unitPrice"] == 9.99
    assert by_path["/NEW_CONSUMER_ORDER"]["data"]["status"] == "Placed"
    assert by_path["/UPDATE_CONSUMER_ORDER"]["data"]["status"] == "Accepted"
    assert all(body["shopId"] == stores["blaze"]["shop_id"] for _, body in received)
    wrong_shop = await sim_client.post(
        f"{base}/webHooks",
        headers=headers,
        json={"webHookType": "UPDATE_PRODUCT", "webHookUrls": [url], "shopId": "other"},
    )
    assert wrong_shop.status_code == 400


async def test_fifty_requests_a_second_per_key(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    url = f"{config['base_url']}/store"
    clock.advance(1 - clock.now().timestamp() % 1)
    statuses = [(await sim_client.get(url, headers=blaze_headers(config))).status_code
                for _ in range(51)]  # fmt: skip
    assert statuses == [200] * 50 + [429]
    limited = await sim_client.get(url, headers=blaze_headers(config))
    assert (limited.headers["retry-after"], limited.json()) == (
        "1",
        {"message": "Too many requests"},
    )
    clock.advance(1)
    assert (await sim_client.get(url, headers=blaze_headers(config))).status_code == 200
