"""The control API: stores and credentials, catalog edits seen by the dialects, orders, pushes,
request logs and reset."""

from __future__ import annotations

from typing import Any

import httpx

from ridgeline.clock import FakeClock
from ridgeline.possim import Simulator
from ridgeline.possim.catalog import generate_catalog
from ridgeline.possim.model import Dialect
from tests.possim.conftest import PRODUCTS
from tests.possim.dialect_calls import dutchie_headers, treez_call
from tests.possim.servers import Receiver

Stores = dict[str, dict[str, Any]]


async def test_stores_list_the_adapter_config_each_dialect_needs(stores: Stores) -> None:
    expected = {
        "dutchie": {"base_url", "api_key", "integrator_key", "consumer_key"},
        "treez": {"base_url", "dispensary", "certificate_id", "organization_id", "private_key_pem"},
        "blaze": {"base_url", "partner_key", "api_key"},
        "flowhub": {
            "base_url",
            "client_id",
            "api_key",
            "location_id",
            "oauth_client_id",
            "oauth_client_secret",
            "audience",
        },
    }
    assert {dialect: set(s["config"]) for dialect, s in stores.items()} == expected
    assert stores["dutchie"]["base_url"] == "http://possim.test/dutchie"
    assert stores["treez"]["base_url"] == "http://possim.test/treez"
    assert stores["blaze"]["base_url"] == "http://possim.test/blaze/api/v1/partner"
    assert stores["flowhub"]["base_url"] == "http://possim.test/flowhub"
    assert all(s["products"] == PRODUCTS for s in stores.values())


async def test_a_new_store_gets_a_seeded_catalog(sim_client: httpx.AsyncClient) -> None:
    created = await sim_client.post(
        "/_sim/stores", json={"dialect": "blaze", "products": 10, "seed": 5}
    )
    assert created.status_code == 201
    store = created.json()
    assert (store["id"], store["products"]) == ("blaze-5", 10)
    listed = (await sim_client.get(f"/_sim/stores/{store['id']}/products")).json()["products"]
    expected = generate_catalog(Dialect.BLAZE, 5, 10)
    assert [(p["id"], p["name"]) for p in listed] == [(p.product_id, p.name) for p in expected]
    invalid = await sim_client.post("/_sim/stores", json={"dialect": "square", "products": 1})
    assert invalid.status_code == 422


async def test_catalog_edits_show_in_the_dialect(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    config = stores["dutchie"]["config"]

    async def catalog() -> dict[str, dict[str, Any]]:
        response = await sim_client.get(
            f"{config['base_url']}/products", headers=dutchie_headers(config)
        )
        return {str(p["productId"]): p for p in response.json()}

    first, second = list(await catalog())[:2]
    patched = await sim_client.patch(
        f"/_sim/stores/dutchie-1/products/{first}",
        json={"price_cents": 2999, "name": "House Blend", "active": False, "quantity": 3},
    )
    assert patched.status_code == 200
    added = await sim_client.post(
        "/_sim/stores/dutchie-1/products", json={"name": "New Arrival", "price_cents": 1500}
    )
    new_id = added.json()["products"][0]["id"]
    assert (await sim_client.delete(f"/_sim/stores/dutchie-1/products/{second}")).status_code == 204
    after = await catalog()
    assert (after[first]["price"], after[first]["productName"], after[first]["isActive"]) == (
        29.99,
        "House Blend",
        False,
    )
    assert after[new_id]["productName"] == "New Arrival"
    assert after[new_id]["price"] == 15.0
    assert second not in after
    assert len(after) == PRODUCTS
    missing = await sim_client.patch(
        f"/_sim/stores/dutchie-1/products/{second}", json={"quantity": 1}
    )
    assert missing.status_code == 404
    bad = await sim_client.patch(
        f"/_sim/stores/dutchie-1/products/{first}", json={"price_cents": -1}
    )
    assert bad.status_code == 422


async def test_products_listing_pages(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.get(
        "/_sim/stores/blaze-3/products", params={"limit": 5, "offset": 10}
    )
    body = response.json()
    assert (body["total"], len(body["products"]), body["products"][0]["number"]) == (
        PRODUCTS,
        5,
        11,
    )
    assert (await sim_client.get("/_sim/stores/nope/products")).status_code == 404


async def test_order_status_moves_follow_the_dialects_machine(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = stores["dutchie"]["config"]
    product_id = next(
        pid for pid, p in sim.stores["dutchie-1"].products.items() if p.quantity > 0 and p.active
    )
    created = await sim_client.post(
        f"{config['base_url']}/preorder/submit",
        headers=dutchie_headers(config, consumer=True),
        json={"items": [{"productId": int(product_id), "quantity": 1}], "idempotencyKey": "m"},
    )
    order_id = created.json()["PreOrderId"]
    url = f"/_sim/stores/dutchie-1/orders/{order_id}/status"
    assert (await sim_client.post(url, json={"status": "Filled"})).status_code == 200
    backwards = await sim_client.post(url, json={"status": "Processing"})
    assert backwards.status_code == 409
    unknown = await sim_client.post(url, json={"status": "Shipped"})
    assert unknown.status_code == 400
    order = (await sim_client.get(f"/_sim/stores/dutchie-1/orders/{order_id}")).json()
    assert [h["status"] for h in order["history"]] == ["Submitted", "Filled"]


async def test_treez_pushes_go_to_targets_registered_on_the_control_api(
    sim_client: httpx.AsyncClient,
    stores: Stores,
    clock: FakeClock,
    sim: Simulator,
    receiver: tuple[Receiver, str],
) -> None:
    inbox, url = receiver
    registered = await sim_client.post(
        "/_sim/stores/treez-2/webhooks", json={"url": f"{url}/treez"}
    )
    assert registered.status_code == 201
    product_id = next(
        pid for pid, p in sim.stores["treez-2"].products.items() if p.quantity > 0 and p.active
    )
    await sim_client.patch(f"/_sim/stores/treez-2/products/{product_id}", json={"quantity": 9})
    ticket = await treez_call(
        sim_client,
        stores["treez"]["config"],
        clock,
        "POST",
        "/ticket/detailticket",
        {
            "external_order_number": "RL-PUSH000001",
            "items": [{"product_id": product_id, "quantity": 1}],
        },
    )
    assert ticket.status_code == 200
    received = await inbox.wait_for(2)
    events = {body["event_type"]: body for _, body in received}
    assert set(events) == {"PRODUCT", "TICKET"}
    assert events["PRODUCT"]["data"]["sellable_quantity"] == 9
    assert events["TICKET"]["data"]["external_order_number"] == "RL-PUSH000001"
    await sim.pusher.drain()
    deliveries = (await sim_client.get("/_sim/stores/treez-2/deliveries")).json()["deliveries"]
    assert [d["delivered"] for d in deliveries] == [True, True]
    refused = await sim_client.post("/_sim/stores/dutchie-1/webhooks", json={"url": url})
    assert refused.status_code == 400


async def test_the_request_log_counts_calls_by_endpoint(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    config = stores["dutchie"]["config"]
    headers = dutchie_headers(config)
    for _ in range(3):
        await sim_client.get(f"{config['base_url']}/inventory", headers=headers)
    await sim_client.get(f"{config['base_url']}/whoami", headers=headers)
    log = (
        await sim_client.get("/_sim/stores/dutchie-1/requests", params={"endpoint": "inventory"})
    ).json()
    assert log["count"] == 3
    assert log["requests"][0] | {"at": None} == {
        "at": None,
        "method": "GET",
        "path": "/dutchie/inventory",
        "endpoint": "inventory",
        "status": 200,
        "fault": None,
    }
    assert (await sim_client.delete("/_sim/stores/dutchie-1/requests")).status_code == 204
    assert (await sim_client.get("/_sim/stores/dutchie-1/requests")).json()["count"] == 0


async def test_reset_restores_the_startup_stores(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    product_id = next(iter(sim.stores["blaze-3"].products))
    await sim_client.delete(f"/_sim/stores/blaze-3/products/{product_id}")
    await sim_client.post("/_sim/stores", json={"dialect": "dutchie", "products": 1})
    await sim_client.post("/_sim/stores/blaze-3/faults", json={"endpoint": "*", "kind": "reset"})
    reset = await sim_client.post("/_sim/reset")
    assert reset.status_code == 200
    after = {s["dialect"]: s for s in reset.json()["stores"]}
    assert after == stores
    assert product_id in sim.stores["blaze-3"].products
    assert sim.stores["blaze-3"].faults.in_order() == []
    assert (await sim_client.get("/_sim")).json()["stores"] == [
        "dutchie-1",
        "treez-2",
        "blaze-3",
        "flowhub-4",
    ]


async def test_an_added_product_fits_its_category(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    added = await sim_client.post(
        "/_sim/stores/dutchie-1/products",
        json={"count": 3, "category": "edible", "quantity": 40, "active": True},
    )
    assert added.status_code == 201
    products = added.json()["products"]
    assert [(p["category"], p["potency_unit"], p["quantity"]) for p in products] == [
        ("edible", "mg", 40)
    ] * 3
    config = stores["dutchie"]["config"]
    listed = await sim_client.get(f"{config['base_url']}/products", headers=dutchie_headers(config))
    shown = {str(p["productId"]): p for p in listed.json()}
    assert {shown[p["id"]]["masterCategory"] for p in products} == {"Edibles"}
