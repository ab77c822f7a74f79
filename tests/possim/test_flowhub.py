"""Flowhub as docs/pos/flowhub.md describes it: key headers, OAuth for Order Ahead, postbacks."""

from __future__ import annotations

from typing import Any

import httpx

from ridgeline.clock import FakeClock
from ridgeline.possim import Simulator
from tests.possim.dialect_calls import flowhub_headers, flowhub_token
from tests.possim.servers import Receiver

Stores = dict[str, dict[str, Any]]


def _config(stores: Stores) -> dict[str, Any]:
    config: dict[str, Any] = stores["flowhub"]["config"]
    return config


async def test_clients_locations_lists_the_configured_location(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    config = _config(stores)
    response = await sim_client.get(
        f"{config['base_url']}/v0/clientsLocations", headers=flowhub_headers(config)
    )
    assert response.json()["status"] == "success"
    assert [loc["locationId"] for loc in response.json()["data"]] == [config["location_id"]]
    bad = await sim_client.get(
        f"{config['base_url']}/v0/clientsLocations",
        headers=flowhub_headers({**config, "api_key": "x"}),
    )
    assert bad.status_code == 401
    assert bad.json()["status"] == "error"


async def test_inventory_has_a_row_per_variant_and_a_non_zero_view(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    base = f"{config['base_url']}/v0/locations/{config['location_id']}"
    rows = (await sim_client.get(f"{base}/inventory", headers=flowhub_headers(config))).json()[
        "data"
    ]
    store = sim.stores["flowhub-4"]
    active = [p for p in store.products.values() if p.active]
    assert len(rows) == sum(len(p.variants) for p in active)
    assert len({r["productId"] for r in rows}) == len(active)
    assert any(r["quantity"] == 0 for r in rows)
    assert all(isinstance(r["priceInMinorUnits"], int) for r in rows)
    multi = next(p for p in active if len(p.variants) > 1)
    assert {r["variantId"] for r in rows if r["productId"] == multi.product_id} == {
        v.variant_id for v in multi.variants
    }
    non_zero = await sim_client.get(f"{base}/inventoryNonZero", headers=flowhub_headers(config))
    assert non_zero.json()["data"]
    assert all(r["quantity"] > 0 for r in non_zero.json()["data"])
    other = await sim_client.get(
        f"{config['base_url']}/v0/locations/elsewhere/inventory", headers=flowhub_headers(config)
    )
    assert other.status_code == 403


async def test_every_answer_carries_ratelimit_headers_and_429_has_retry_after(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    url = f"{config['base_url']}/v0/clientsLocations"
    clock.advance(1 - clock.now().timestamp() % 1)
    responses = [await sim_client.get(url, headers=flowhub_headers(config)) for _ in range(51)]
    assert responses[0].headers["ratelimit-limit"] == "50"
    assert responses[0].headers["ratelimit-remaining"] == "49"
    assert [r.status_code for r in responses] == [200] * 50 + [429]
    assert responses[-1].headers["retry-after"] == "1"
    assert responses[-1].headers["ratelimit-remaining"] == "0"
    assert "ratelimit-reset" in responses[-1].headers


async def test_oauth_tokens_expire(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    token = await flowhub_token(sim_client, config)
    url = f"{config['base_url']}/order-ahead/v0/orders"
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await sim_client.get(url, headers=bearer)).status_code == 200
    assert (await sim_client.get(url, headers=flowhub_headers(config))).status_code == 401
    clock.advance(3600)
    expired = await sim_client.get(url, headers=bearer)
    assert expired.status_code == 401


async def test_oauth_refusals(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    config = _config(stores)
    url = f"{config['base_url']}/oauth/token"
    good = {
        "client_id": config["oauth_client_id"],
        "client_secret": config["oauth_client_secret"],
        "audience": config["audience"],
        "grant_type": "client_credentials",
    }
    form = await sim_client.post(url, data=good)
    assert form.status_code == 200
    assert form.json()["expires_in"] == 3600
    secret = await sim_client.post(url, json={**good, "client_secret": "x"})
    assert (secret.status_code, secret.json()["error"]) == (401, "invalid_client")
    grant = await sim_client.post(url, json={**good, "grant_type": "password"})
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    audience = await sim_client.post(url, json={**good, "audience": "https://elsewhere"})
    assert audience.status_code == 403
    unknown = await sim_client.post(url, json={**good, "client_id": "nobody"})
    assert unknown.status_code == 401


def _stocked(sim: Simulator) -> tuple[str, str]:
    product = next(
        p
        for p in sim.stores["flowhub-4"].products.values()
        if p.quantity >= 3 and p.active and len(p.variants) > 1
    )
    return product.product_id, product.variants[1].variant_id


async def test_order_ahead_create_lookup_status_delete_with_postbacks(
    sim_client: httpx.AsyncClient,
    stores: Stores,
    sim: Simulator,
    receiver: tuple[Receiver, str],
) -> None:
    config = _config(stores)
    inbox, url = receiver
    bearer = {"Authorization": f"Bearer {await flowhub_token(sim_client, config)}"}
    base = f"{config['base_url']}/order-ahead/v0"
    product_id, variant_id = _stocked(sim)
    store = sim.stores["flowhub-4"]
    before = store.products[product_id].quantity
    created = await sim_client.post(
        f"{base}/create",
        headers=bearer,
        json={
            "locationId": config["location_id"],
            "orderType": "kiosk",
            "externalId": "RL-FLOW000001",
            "postbackUrl": f"{url}/postback",
            "customer": {"name": "Kiosk", "phone": None},
            "items": [{"productId": product_id, "variantId": variant_id, "quantity": 2}],
        },
    )
    assert created.status_code == 200, created.text
    order = created.json()["data"]
    assert order["status"] == "new"
    assert store.products[product_id].quantity == before - 2
    line = store.orders[order["orderId"]].lines[0]
    assert line.price_cents == store.products[product_id].variants[1].price_cents
    found = await sim_client.get(
        f"{base}/orders", params={"externalId": "RL-FLOW000001"}, headers=bearer
    )
    assert [o["orderId"] for o in found.json()["data"]] == [order["orderId"]]
    moved = await sim_client.post(
        f"/_sim/stores/flowhub-4/orders/{order['orderId']}/status", json={"status": "ready"}
    )
    assert moved.status_code == 200
    status = await sim_client.get(f"{base}/orderStatus/{order['orderId']}", headers=bearer)
    assert status.json()["data"] == {"orderId": order["orderId"], "status": "ready"}
    deleted = await sim_client.delete(f"{base}/orders/{order['orderId']}", headers=bearer)
    assert deleted.json()["data"]["status"] == "deleted"
    assert store.products[product_id].quantity == before
    received = await inbox.wait_for(2)
    assert sorted(body["status"] for _, body in received) == ["deleted", "ready"]
    assert all(path == "/postback" for path, _ in received)
    assert all(body["externalId"] == "RL-FLOW000001" for _, body in received)
    assert set(received[0][1]) == {"orderId", "externalId", "status", "updatedAt"}


async def test_order_ahead_refuses_unknown_variants_and_other_locations(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = _config(stores)
    bearer = {"Authorization": f"Bearer {await flowhub_token(sim_client, config)}"}
    product_id, _ = _stocked(sim)
    body = {
        "locationId": config["location_id"],
        "orderType": "kiosk",
        "externalId": "RL-FLOW000002",
        "items": [{"productId": product_id, "variantId": "nope", "quantity": 1}],
    }
    url = f"{config['base_url']}/order-ahead/v0/create"
    assert (await sim_client.post(url, headers=bearer, json=body)).status_code == 400
    elsewhere = {**body, "locationId": "other"}
    assert (await sim_client.post(url, headers=bearer, json=elsewhere)).status_code == 400
    assert sim.stores["flowhub-4"].orders == {}
