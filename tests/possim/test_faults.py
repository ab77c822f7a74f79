"""Faults injected through the control API, in-process (the connection-level ones have live-server
tests in test_live.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.possim import Simulator, create_simulator_app
from ridgeline.possim.connection import SimulatedConnectionReset, SimulatedTimeout
from tests.possim.conftest import PRODUCTS
from tests.possim.dialect_calls import blaze_headers, dutchie_headers, flowhub_headers, treez_call

Stores = dict[str, dict[str, Any]]


async def _fault(client: httpx.AsyncClient, store_id: str, **spec: Any) -> dict[str, Any]:
    response = await client.post(f"/_sim/stores/{store_id}/faults", json=spec)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _whoami(client: httpx.AsyncClient, stores: Stores) -> httpx.Response:
    config = stores["dutchie"]["config"]
    return await client.get(f"{config['base_url']}/whoami", headers=dutchie_headers(config))


async def _dutchie_products(client: httpx.AsyncClient, stores: Stores) -> httpx.Response:
    config = stores["dutchie"]["config"]
    return await client.get(f"{config['base_url']}/products", headers=dutchie_headers(config))


async def test_latency_waits_on_the_clock(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    await _fault(sim_client, "dutchie-1", endpoint="auth", kind="latency", latency_ms=2500)
    before = clock.now()
    assert (await _whoami(sim_client, stores)).status_code == 200
    assert (clock.now() - before).total_seconds() == pytest.approx(2.5)


async def test_status_faults_apply_count_times_then_stop(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    fault = await _fault(
        sim_client,
        "dutchie-1",
        endpoint="auth",
        kind="status",
        status=503,
        retry_after_s=7,
        count=2,
    )
    first, second, third = [await _whoami(sim_client, stores) for _ in range(3)]
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["retry-after"] == "7"
    assert "Message" in first.json()
    used = (await sim_client.get(f"/_sim/stores/dutchie-1/faults/{fault['id']}")).json()
    assert (used["hits"], used["remaining"], used["active"]) == (2, 0, False)
    log = (await sim_client.get("/_sim/stores/dutchie-1/requests")).json()["requests"]
    assert [(r["status"], r["fault"]) for r in log] == [
        (503, "status"),
        (503, "status"),
        (200, None),
    ]


async def test_faults_match_their_endpoint_class_or_every_class(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    await _fault(sim_client, "dutchie-1", endpoint="inventory", kind="status", status=500)
    assert (await _whoami(sim_client, stores)).status_code == 200
    await _fault(sim_client, "dutchie-1", endpoint="*", kind="status", status=502, count=1)
    assert (await _whoami(sim_client, stores)).status_code == 502
    assert (await sim_client.delete("/_sim/stores/dutchie-1/faults")).status_code == 204
    assert (await sim_client.get("/_sim/stores/dutchie-1/faults")).json() == {"faults": []}


async def test_rate_limit_fault_with_and_without_retry_after(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    config = stores["blaze"]["config"]
    url = f"{config['base_url']}/store"
    await _fault(sim_client, "blaze-3", endpoint="auth", kind="rate_limit", count=1)
    bare = await sim_client.get(url, headers=blaze_headers(config))
    assert bare.status_code == 429
    assert "retry-after" not in bare.headers
    await _fault(
        sim_client, "blaze-3", endpoint="auth", kind="rate_limit", retry_after_s=3, count=1
    )
    told = await sim_client.get(url, headers=blaze_headers(config))
    assert (told.status_code, told.headers["retry-after"]) == (429, "3")


async def test_unauthorized_and_forbidden_use_each_dialects_shape(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    await _fault(sim_client, "treez-2", endpoint="auth", kind="unauthorized", count=1)
    treez = await treez_call(sim_client, stores["treez"]["config"], clock, "GET", "/config/store")
    assert (treez.status_code, treez.json()) == (
        401,
        {"resultCode": "FAIL", "resultReason": "UNAUTHORIZED"},
    )
    await _fault(sim_client, "flowhub-4", endpoint="auth", kind="forbidden", count=1)
    config = stores["flowhub"]["config"]
    flowhub = await sim_client.get(
        f"{config['base_url']}/v0/clientsLocations", headers=flowhub_headers(config)
    )
    assert flowhub.status_code == 403
    assert flowhub.json()["status"] == "error"


async def test_malformed_json_is_cut_short(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    await _fault(sim_client, "dutchie-1", endpoint="products", kind="malformed_json", count=1)
    response = await _dutchie_products(sim_client, stores)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len((await _dutchie_products(sim_client, stores)).json()) == PRODUCTS


async def test_bad_records_break_the_schema(sim_client: httpx.AsyncClient, stores: Stores) -> None:
    await _fault(sim_client, "dutchie-1", endpoint="products", kind="bad_records", count=1)
    records = (await _dutchie_products(sim_client, stores)).json()
    assert len(records) == PRODUCTS
    broken = [
        r
        for r in records
        if "productId" not in r
        or not isinstance(r["productId"], int)
        or not isinstance(r["productName"], str)
        or r["price"] < 0
    ]
    assert len(broken) == PRODUCTS // 10
    assert any("productId" not in r for r in broken)
    assert any(r.get("price", 0) < 0 for r in broken)


async def test_short_page_ends_a_treez_listing_early(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    await _fault(sim_client, "treez-2", endpoint="products", kind="short_page", count=1)
    config = stores["treez"]["config"]
    page = await treez_call(sim_client, config, clock, "GET", "/product/list/page/1/pagesize/20")
    assert len(page.json()["data"]["product_list"]) == 10


async def test_duplicate_page_serves_the_previous_page_again(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    config = stores["blaze"]["config"]

    async def page(skip: int) -> list[str]:
        response = await sim_client.get(
            f"{config['base_url']}/products",
            params={"skip": skip, "limit": 20},
            headers=blaze_headers(config),
        )
        return [v["id"] for v in response.json()["values"]]

    first = await page(0)
    await _fault(sim_client, "blaze-3", endpoint="products", kind="duplicate_page", count=1)
    assert await page(20) == first
    assert set(await page(20)).isdisjoint(first)


async def test_probability_draws_from_the_seeded_generator(clock: FakeClock) -> None:
    async def outcomes() -> list[int]:
        app = create_simulator_app(seed=3, clock=clock, stores=1, products=5)
        config = app.simulator.stores["dutchie-1"].identity.config("http://sim/dutchie")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sim"
        ) as client:
            await _fault(
                client, "dutchie-1", endpoint="auth", kind="status", status=500, probability=0.5
            )
            headers = dutchie_headers(config)
            return [
                (await client.get("/dutchie/whoami", headers=headers)).status_code
                for _ in range(40)
            ]

    first, again = await outcomes(), await outcomes()
    assert first == again
    assert 5 < first.count(500) < 35


async def test_reset_in_process_raises_a_read_error(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    await _fault(sim_client, "dutchie-1", endpoint="auth", kind="reset", count=1)
    with pytest.raises(httpx.ReadError) as raised:
        await _whoami(sim_client, stores)
    assert isinstance(raised.value, SimulatedConnectionReset)
    assert (await _whoami(sim_client, stores)).status_code == 200


async def test_timeout_in_process_raises_a_read_timeout(
    sim_client: httpx.AsyncClient, stores: Stores
) -> None:
    await _fault(sim_client, "dutchie-1", endpoint="auth", kind="timeout", count=1)
    with pytest.raises(httpx.ReadTimeout) as raised:
        await _whoami(sim_client, stores)
    assert isinstance(raised.value, SimulatedTimeout)
    log = (await sim_client.get("/_sim/stores/dutchie-1/requests")).json()["requests"]
    assert (log[-1]["status"], log[-1]["fault"]) == (None, "timeout")


async def test_drop_response_after_accept_keeps_the_order(
    sim_client: httpx.AsyncClient, stores: Stores, sim: Simulator
) -> None:
    config = stores["blaze"]["config"]
    product_id = next(
        pid for pid, p in sim.stores["blaze-3"].products.items() if p.quantity > 0 and p.active
    )
    before = sim.stores["blaze-3"].products[product_id].quantity
    await _fault(
        sim_client, "blaze-3", endpoint="order_submit", kind="drop_response_after_accept", count=1
    )
    with pytest.raises(httpx.ReadError):
        await sim_client.post(
            f"{config['base_url']}/store/cart/prepare",
            headers=blaze_headers(config),
            json={
                "externalId": "RL-DROP000001",
                "items": [{"productId": product_id, "quantity": 1}],
            },
        )
    found = await sim_client.get(
        f"{config['base_url']}/store/carts",
        params={"externalId": "RL-DROP000001"},
        headers=blaze_headers(config),
    )
    [cart] = found.json()["values"]
    submitted = await sim_client.post(
        f"{config['base_url']}/store/cart/submitCart/{cart['id']}", headers=blaze_headers(config)
    )
    assert submitted.json()["status"] == "Placed"
    assert sim.stores["blaze-3"].products[product_id].quantity == before - 1


async def test_fault_requests_are_validated(sim_client: httpx.AsyncClient) -> None:
    bad_kind = await sim_client.post(
        "/_sim/stores/dutchie-1/faults", json={"endpoint": "auth", "kind": "gremlins"}
    )
    assert bad_kind.status_code == 422
    bad_endpoint = await sim_client.post(
        "/_sim/stores/dutchie-1/faults", json={"endpoint": "checkout", "kind": "reset"}
    )
    assert bad_endpoint.status_code == 422
    bad_probability = await sim_client.post(
        "/_sim/stores/dutchie-1/faults", json={"endpoint": "*", "kind": "reset", "probability": 2}
    )
    assert bad_probability.status_code == 422
    assert (await sim_client.delete("/_sim/stores/dutchie-1/faults/f99")).status_code == 404
