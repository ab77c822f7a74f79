"""The simulator over real HTTP (uvicorn on 127.0.0.1): connection resets, requests held past the
client's timeout, responses dropped after the order was taken, and `serve_simulator` itself."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import pytest

from ridgeline.possim import SimulatorApp, create_simulator_app
from tests.net import free_port
from tests.possim.dialect_calls import dutchie_headers
from tests.possim.servers import running


@pytest.fixture
def live_app() -> SimulatorApp:
    return create_simulator_app(seed=1, stores=4, products=20)


@pytest.fixture
async def live(live_app: SimulatorApp) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    async with running(live_app) as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        stores = (await client.get("/_sim/stores")).json()["stores"]
        yield client, {s["dialect"]: s for s in stores}


async def _fault(client: httpx.AsyncClient, store_id: str, **spec: Any) -> None:
    response = await client.post(f"/_sim/stores/{store_id}/faults", json=spec)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("http", ["h11", "httptools"])
async def test_reset_drops_the_connection_without_a_response(
    live_app: SimulatorApp, http: Literal["h11", "httptools"]
) -> None:
    async with running(live_app, http=http) as url, httpx.AsyncClient(base_url=url) as client:
        store = (await client.get("/_sim/stores/dutchie-1")).json()
        config = store["config"]
        await _fault(client, "dutchie-1", endpoint="auth", kind="reset", count=1)
        with pytest.raises(httpx.ReadError):
            await client.get(f"{config['base_url']}/whoami", headers=dutchie_headers(config))
        after = await client.get(f"{config['base_url']}/whoami", headers=dutchie_headers(config))
        assert after.status_code == 200
        log = (await client.get("/_sim/stores/dutchie-1/requests")).json()["requests"]
        assert [(r["status"], r["fault"]) for r in log] == [(None, "reset"), (200, None)]


async def test_timeout_holds_the_request_without_blocking_others(
    live: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, stores = live
    config = stores["dutchie"]["config"]
    await _fault(client, "dutchie-1", endpoint="products", kind="timeout", count=1)
    held = asyncio.create_task(
        client.get(f"{config['base_url']}/products", headers=dutchie_headers(config), timeout=0.5)
    )
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    other = await client.get(f"{config['base_url']}/whoami", headers=dutchie_headers(config))
    assert other.status_code == 200
    assert time.perf_counter() - started < 0.3
    with pytest.raises(httpx.ReadTimeout):
        await held
    await asyncio.sleep(0.05)  # the server notices the client has gone
    log = (await client.get("/_sim/stores/dutchie-1/requests")).json()["requests"]
    assert (None, "timeout") in [(r["status"], r["fault"]) for r in log]


async def test_a_short_hold_ends_in_a_reset(live: tuple[httpx.AsyncClient, dict[str, Any]]) -> None:
    client, stores = live
    config = stores["blaze"]["config"]
    headers = {"partner_key": config["partner_key"], "Authorization": config["api_key"]}
    await _fault(client, "blaze-3", endpoint="auth", kind="timeout", latency_ms=200, count=1)
    started = time.perf_counter()
    with pytest.raises(httpx.ReadError):
        await client.get(f"{config['base_url']}/store", headers=headers)
    assert 0.2 <= time.perf_counter() - started < 2


async def test_latency_delays_the_answer(live: tuple[httpx.AsyncClient, dict[str, Any]]) -> None:
    client, stores = live
    config = stores["dutchie"]["config"]
    await _fault(client, "dutchie-1", endpoint="auth", kind="latency", latency_ms=300, count=1)
    started = time.perf_counter()
    response = await client.get(f"{config['base_url']}/whoami", headers=dutchie_headers(config))
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3


async def test_a_dropped_preorder_response_is_found_again_by_its_key(
    live: tuple[httpx.AsyncClient, dict[str, Any]], live_app: SimulatorApp
) -> None:
    client, stores = live
    config = stores["dutchie"]["config"]
    store = live_app.simulator.stores["dutchie-1"]
    product_id = next(pid for pid, p in store.products.items() if p.quantity > 0 and p.active)
    before = store.products[product_id].quantity
    await _fault(
        client, "dutchie-1", endpoint="order_submit", kind="drop_response_after_accept", count=1
    )
    body = {
        "items": [{"productId": int(product_id), "quantity": 1}],
        "orderType": "Pickup",
        "notes": "RL-LOST000001",
        "idempotencyKey": "lost-1",
    }
    url = f"{config['base_url']}/preorder/submit"
    headers = dutchie_headers(config, consumer=True)
    with pytest.raises(httpx.ReadError):
        await client.post(url, headers=headers, json=body)
    orders = (await client.get("/_sim/stores/dutchie-1/orders")).json()["orders"]
    assert [(o["idempotency_key"], o["create_requests"]) for o in orders] == [("lost-1", 1)]
    assert store.products[product_id].quantity == before - 1
    retried = await client.post(url, headers=headers, json=body)
    assert retried.json()["PreOrderId"] == int(orders[0]["id"])
    orders = (await client.get("/_sim/stores/dutchie-1/orders")).json()["orders"]
    assert [(o["idempotency_key"], o["create_requests"]) for o in orders] == [("lost-1", 2)]
    assert store.products[product_id].quantity == before - 1


async def test_serve_simulator_starts_four_stores_of_5000_products_quickly() -> None:
    port = free_port()
    script = (
        "import asyncio; from ridgeline.possim import serve_simulator; "
        f"asyncio.run(serve_simulator('127.0.0.1', {port}, stores=4, products=5000, seed=1))"
    )
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                assert process.returncode is None, "the simulator exited"
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/_sim/stores")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
                assert time.perf_counter() - started < 15
        elapsed = time.perf_counter() - started
        stores = response.json()["stores"]
        assert [(s["dialect"], s["products"]) for s in stores] == [
            ("dutchie", 5000),
            ("treez", 5000),
            ("blaze", 5000),
            ("flowhub", 5000),
        ]
        assert elapsed < 10, f"startup took {elapsed:.1f} s (including the interpreter)"
    finally:
        process.send_signal(signal.SIGINT)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert await asyncio.wait_for(process.wait(), 10) in (0, -signal.SIGINT)
