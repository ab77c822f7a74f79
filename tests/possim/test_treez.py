"""Treez as docs/pos/treez.md describes it: per-request JWTs, path paging, tickets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ridgeline.clock import FakeClock
from ridgeline.possim import Simulator
from ridgeline.possim.model import Category, epoch_ms, iso_ms
from tests.possim.conftest import PRODUCTS
from tests.possim.dialect_calls import treez_call, treez_token, treez_url

Stores = dict[str, dict[str, Any]]


def _config(stores: Stores) -> dict[str, Any]:
    config: dict[str, Any] = stores["treez"]["config"]
    return config


async def _get_with(client: httpx.AsyncClient, url: str, token: str) -> httpx.Response:
    return await client.get(url, headers={"Authorization": f"Bearer {token}"})


async def test_a_signed_request_is_accepted(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    response = await treez_call(sim_client, _config(stores), clock, "GET", "/config/store")
    assert response.status_code == 200
    assert response.json() == {
        "resultCode": "SUCCESS",
        "data": {"dispensary": _config(stores)["dispensary"], "name": stores["treez"]["name"]},
    }


@pytest.mark.parametrize(
    ("claims", "status", "reason"),
    [
        ({"aud": "http://possim.test/treez/dispensary/v3/x/config/store"}, 401, "UNAUTHORIZED"),
        ({"iss": "someone-else"}, 401, "UNAUTHORIZED"),
        ({"oid": "another-org"}, 401, "UNAUTHORIZED"),
        ({"iat_ms": -31_000}, 400, "JWT_EXPIRED"),
        ({"iat_ms": 6_000}, 400, "JWT_EXPIRED"),
        ({"window_ms": 3_600_000}, 400, "JWT_EXPIRED"),
        ({"seconds": True}, 400, "JWT_EXPIRED"),
    ],
)
async def test_tokens_outside_the_rules_are_refused(
    sim_client: httpx.AsyncClient,
    stores: Stores,
    clock: FakeClock,
    claims: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    config = _config(stores)
    url = treez_url(config, "/config/store")
    now_ms = epoch_ms(clock.now())
    if claims.pop("seconds", False):
        claims["iat_ms"] = now_ms // 1000
    elif "iat_ms" in claims:
        claims["iat_ms"] = now_ms + claims["iat_ms"]
    token = treez_token(config, claims.pop("aud", url), clock, **claims)
    response = await _get_with(sim_client, url, token)
    assert response.status_code == status
    assert response.json() == {"resultCode": "FAIL", "resultReason": reason}


async def test_the_window_is_thirty_seconds(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    url = treez_url(config, "/config/store")
    token = treez_token(config, url, clock)
    clock.advance(29)
    assert (await _get_with(sim_client, url, token)).status_code == 200
    clock.advance(2)
    assert (await _get_with(sim_client, url, token)).status_code == 400


async def test_signature_audience_and_query_must_match(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    url = treez_url(config, "/product/list/page/1/pagesize/5")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = treez_token(config, url, clock, key=stranger)
    assert (await _get_with(sim_client, url, forged)).status_code == 401
    with_query = url + "?verbose=1"
    signed_without_query = treez_token(config, url, clock)
    assert (await _get_with(sim_client, with_query, signed_without_query)).status_code == 401
    signed_with_query = treez_token(config, with_query, clock)
    assert (await _get_with(sim_client, with_query, signed_with_query)).status_code == 200
    assert (await sim_client.get(url)).status_code == 401
    assert (
        await sim_client.get(url, headers={"Authorization": "Bearer not.a.jwt"})
    ).status_code == 401


async def test_an_unknown_dispensary_is_refused(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = {**_config(stores), "dispensary": "nowhere"}
    assert (await treez_call(sim_client, config, clock, "GET", "/config/store")).status_code == 401


async def _all_pages(
    client: httpx.AsyncClient, config: dict[str, Any], clock: FakeClock, path: str, size: int
) -> list[list[dict[str, Any]]]:
    pages = []
    page = 1
    while True:
        response = await treez_call(
            client, config, clock, "GET", f"{path}/page/{page}/pagesize/{size}"
        )
        assert response.status_code == 200, response.text
        rows = response.json()["data"]["product_list"]
        pages.append(rows)
        if len(rows) < size:
            return pages
        page += 1


async def test_paging_ends_on_a_short_page(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    config = _config(stores)
    pages = await _all_pages(sim_client, config, clock, "/product/list", 25)
    assert [len(p) for p in pages] == [25, 25, PRODUCTS - 50]
    ids = [row["product_id"] for page in pages for row in page]
    assert ids == list(sim.stores["treez-2"].products)
    exact = await _all_pages(sim_client, config, clock, "/product/list", 30)
    assert [len(p) for p in exact] == [30, 30, 0]


async def test_a_page_size_over_500_is_refused(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    ok = await treez_call(sim_client, config, clock, "GET", "/product/list/page/1/pagesize/500")
    assert ok.status_code == 200
    too_big = await treez_call(
        sim_client, config, clock, "GET", "/product/list/page/1/pagesize/501"
    )
    assert too_big.status_code == 400
    assert too_big.json() == {"resultCode": "FAIL", "resultReason": "RESPONSE_LIMIT_EXCEEDS"}


async def test_last_updated_ignores_stock_only_changes(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    config = _config(stores)
    since = iso_ms(clock.now())
    clock.advance(10)
    priced, restocked = list(sim.stores["treez-2"].products)[:2]
    await sim_client.patch(f"/_sim/stores/treez-2/products/{priced}", json={"price_cents": 4200})
    await sim_client.patch(f"/_sim/stores/treez-2/products/{restocked}", json={"quantity": 77})
    changed = await _all_pages(
        sim_client, config, clock, f"/product/list/lastUpdated/after/{since}", 50
    )
    rows = [row for page in changed for row in page]
    assert [(r["product_id"], r["pricing"]["price_sell"]) for r in rows] == [(priced, 42.0)]
    full = [
        row
        for page in await _all_pages(sim_client, config, clock, "/product/list", 500)
        for row in page
    ]
    assert next(r for r in full if r["product_id"] == restocked)["sellable_quantity"] == 77


def _stocked(sim: Simulator) -> str:
    return next(
        pid for pid, p in sim.stores["treez-2"].products.items() if p.quantity >= 3 and p.active
    )


def _ticket(product_id: str, reference: str = "RL-TICKET0001") -> dict[str, Any]:
    return {
        "type": "PICKUP",
        "order_source": "KIOSK",
        "external_order_number": reference,
        "customer": {"name": "Kiosk 1", "phone": None},
        "items": [{"product_id": product_id, "quantity": 2}],
        "notes": "kiosk order",
    }


async def test_preview_validates_without_creating(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    product_id = _stocked(sim)
    response = await treez_call(
        sim_client, _config(stores), clock, "POST", "/ticket/previewticket", _ticket(product_id)
    )
    assert response.status_code == 200
    assert response.json()["data"]["order_status"] == "PREVIEW"
    assert sim.stores["treez-2"].orders == {}


async def test_tickets_are_found_by_our_reference_and_are_never_deduplicated(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    config = _config(stores)
    product_id = _stocked(sim)
    before = sim.stores["treez-2"].products[product_id].quantity
    first = await treez_call(
        sim_client, config, clock, "POST", "/ticket/detailticket", _ticket(product_id)
    )
    assert first.status_code == 200
    ticket = first.json()["data"]
    assert ticket["order_status"] == "AWAITING_PROCESSING"
    assert ticket["external_order_number"] == "RL-TICKET0001"
    assert sim.stores["treez-2"].products[product_id].quantity == before - 2
    found = await treez_call(
        sim_client, config, clock, "GET", "/ticket/externalordernumber/RL-TICKET0001"
    )
    assert [t["ticket_id"] for t in found.json()["data"]] == [ticket["ticket_id"]]
    by_number = await treez_call(
        sim_client, config, clock, "GET", f"/ticket/ordernumber/{ticket['order_number']}"
    )
    assert by_number.json()["data"][0]["ticket_id"] == ticket["ticket_id"]
    none = await treez_call(sim_client, config, clock, "GET", "/ticket/externalordernumber/RL-NONE")
    assert none.json() == {"resultCode": "SUCCESS", "data": []}
    await treez_call(sim_client, config, clock, "POST", "/ticket/detailticket", _ticket(product_id))
    orders = (await sim_client.get("/_sim/stores/treez-2/orders")).json()["orders"]
    assert len(orders) == 2, "Treez has no idempotency key: a resubmission is a second ticket"
    assert {o["create_requests"] for o in orders} == {2}


async def test_cancel_gives_the_stock_back(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    config = _config(stores)
    product_id = _stocked(sim)
    before = sim.stores["treez-2"].products[product_id].quantity
    created = await treez_call(
        sim_client, config, clock, "POST", "/ticket/detailticket", _ticket(product_id)
    )
    ticket_id = created.json()["data"]["ticket_id"]
    cancelled = await treez_call(sim_client, config, clock, "POST", f"/ticket/{ticket_id}/cancel")
    assert cancelled.json()["data"]["order_status"] == "CANCELED"
    assert sim.stores["treez-2"].products[product_id].quantity == before


async def test_tickets_for_unknown_products_or_too_much_are_refused(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator
) -> None:
    config = _config(stores)
    unknown = await treez_call(
        sim_client,
        config,
        clock,
        "POST",
        "/ticket/detailticket",
        _ticket("00000000-0000-4000-8000-000000000000"),
    )
    assert unknown.status_code == 400
    assert unknown.json()["resultCode"] == "FAIL"
    product_id = _stocked(sim)
    body = _ticket(product_id)
    body["items"][0]["quantity"] = 10_000
    assert (
        await treez_call(sim_client, config, clock, "POST", "/ticket/detailticket", body)
    ).status_code == 400


async def test_fifty_requests_a_second(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock
) -> None:
    config = _config(stores)
    clock.advance(1 - clock.now().timestamp() % 1)
    statuses = [
        (await treez_call(sim_client, config, clock, "GET", "/config/store")).status_code
        for _ in range(51)
    ]
    assert statuses == [200] * 50 + [429]
    limited = await treez_call(sim_client, config, clock, "GET", "/config/store")
    assert limited.headers["retry-after"] == "1"
    clock.advance(1)
    assert (await treez_call(sim_client, config, clock, "GET", "/config/store")).status_code == 200


@pytest.mark.parametrize("path", ["/ticket/previewticket", "/ticket/detailticket"])
async def test_a_ticket_over_a_purchase_limit_is_refused(
    sim_client: httpx.AsyncClient, stores: Stores, clock: FakeClock, sim: Simulator, path: str
) -> None:
    """California's 28.5 g of flower a ticket: at it is sold, a gram over is refused with a
    reason naming the limit group; nothing is created."""
    store = sim.stores["treez-2"]
    product = next(
        p
        for p in store.products.values()
        if p.category is Category.FLOWER and p.active and p.primary.grams
    )
    product.quantity = 1_000
    grams = product.primary.grams
    assert grams is not None
    at_limit = int(28.5 // grams)
    body = _ticket(product.product_id)
    body["items"][0]["quantity"] = at_limit
    taken = await treez_call(sim_client, _config(stores), clock, "POST", path, body)
    assert taken.status_code == 200, taken.text

    body["items"][0]["quantity"] = at_limit + 1
    before = len(store.orders)
    refused = await treez_call(sim_client, _config(stores), clock, "POST", path, body)
    assert refused.status_code == 400
    used = round(grams * (at_limit + 1), 3)
    assert refused.json() == {
        "resultCode": "FAIL",
        "resultReason": f"PURCHASE_LIMIT: non_concentrated {used:g} g over 28.5 g",
    }
    assert len(store.orders) == before
