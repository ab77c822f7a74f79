"""GET /api/v1/catalog/changes: exactly what happened after a cursor, and 410 when it is gone."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx

from ridgeline.catalog import repository
from ridgeline.catalog.views import kiosk_event_data
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import Product
from ridgeline.realtime import streams
from tests.assertions import assert_error, data_of, field_locs
from tests.catalog.factories import Shop, add_store, enrich, make_product, make_shop
from tests.factories import bearer, sign_in


async def start_cursor(client: httpx.AsyncClient, shop: Shop) -> str:
    body = (await client.get("/api/v1/catalog", headers=bearer(shop.kiosk_key))).json()
    cursor: str = body["meta"]["catalog"]["position"]["cursor"]
    return cursor


async def emit(
    database: Database, shop: Shop, clock: FakeClock, *events: tuple[str, dict[str, Any]]
) -> None:
    """What the sync engine does: append events to the store stream in a transaction."""
    async with database.transaction() as session:
        await streams.append_many(
            session, streams.store_stream(shop.store.id), list(events), at=clock.now()
        )


def product_event(kind: str, product: Product) -> tuple[str, dict[str, Any]]:
    # The view at event time; tests only need the id and a recognisable name.
    return kind, {"id": str(product.id), "name": product.name}


def stock_event(product: Product, quantity: int) -> tuple[str, dict[str, Any]]:
    data = {"product_id": str(product.id), "variant_id": "v", "quantity_available": quantity}
    return "inventory.changed", data


async def changes(client: httpx.AsyncClient, shop: Shop, since: str, **params: Any) -> Any:
    response = await client.get(
        "/api/v1/catalog/changes",
        params={"since": since, **params},
        headers=bearer(shop.kiosk_key),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_exactly_the_events_after_the_cursor(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    shop = await make_shop(database)
    shown = await make_product(database, shop.store, "Shown")
    hidden = await make_product(database, shop.store, "Hidden")
    inactive = await make_product(database, shop.store, "Inactive", is_active=False)
    await emit(database, shop, clock, product_event("product.updated", shown))  # before
    cursor = await start_cursor(client, shop)
    await enrich(database, hidden, hidden=True)
    await emit(
        database,
        shop,
        clock,
        product_event("product.updated", shown),
        (
            "inventory.changed",
            {"product_id": str(shown.id), "variant_id": "v", "quantity_available": 0},
        ),
        product_event("product.updated", hidden),
        (
            "inventory.changed",
            {"product_id": str(hidden.id), "variant_id": "v", "quantity_available": 1},
        ),
        product_event("product.deactivated", hidden),
        product_event("product.created", inactive),
        product_event("product.deactivated", inactive),
        ("store.status", {"state": "degraded"}),
        ("catalog.resync", {}),
    )
    body = await changes(client, shop, cursor)
    assert [(c["offset"], c["type"], c["data"].get("name")) for c in body["data"]] == [
        (2, "product.updated", "Shown"),
        (3, "inventory.changed", None),
        (6, "product.deactivated", "Hidden"),
        (8, "product.deactivated", "Inactive"),
        (10, "catalog.resync", None),
    ]
    assert body["data"][0]["at"].endswith("Z")
    assert body["meta"]["count"] == 5
    assert body["meta"]["has_more"] is False
    # Nothing new since the returned cursor; then exactly the next event.
    assert (await changes(client, shop, body["meta"]["cursor"]))["data"] == []
    await emit(database, shop, clock, product_event("product.updated", shown))
    later = await changes(client, shop, body["meta"]["cursor"])
    assert [(c["offset"], c["type"]) for c in later["data"]] == [(11, "product.updated")]


async def test_changes_come_in_bounded_batches(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Shown")
    cursor = await start_cursor(client, shop)
    await emit(database, shop, clock, *[product_event("product.updated", product)] * 5)
    first = await changes(client, shop, cursor, limit=3)
    assert [c["offset"] for c in first["data"]] == [1, 2, 3]
    assert first["meta"]["has_more"] is True
    rest = await changes(client, shop, first["meta"]["cursor"], limit=3)
    assert [c["offset"] for c in rest["data"]] == [4, 5]
    assert rest["meta"]["has_more"] is False


async def test_pruned_history_asks_for_a_full_reload(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Shown")
    cursor = await start_cursor(client, shop)
    await emit(database, shop, clock, *[product_event("product.updated", product)] * 3)
    async with database.transaction() as session:
        await streams.prune(session, now=clock.now(), max_messages=1)
    response = await client.get(
        "/api/v1/catalog/changes", params={"since": cursor}, headers=bearer(shop.kiosk_key)
    )
    body = assert_error(response, 410, "CATALOG_RESYNC_REQUIRED")
    assert body["error"]["details"]["reason"] == "messages pruned"
    # Reloading gives a cursor that works again.
    fresh = await start_cursor(client, shop)
    assert (await changes(client, shop, fresh))["data"] == []


async def test_aged_out_history_and_another_stores_cursor_are_410(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Shown")
    cursor = await start_cursor(client, shop)
    await emit(database, shop, clock, product_event("product.updated", product))
    async with database.transaction() as session:
        await streams.prune(session, now=clock.now() + timedelta(days=3))
    gone = await client.get(
        "/api/v1/catalog/changes", params={"since": cursor}, headers=bearer(shop.kiosk_key)
    )
    assert_error(gone, 410, "CATALOG_RESYNC_REQUIRED")

    other_store, other_key = await add_store(database, shop, "Second St")
    other = await client.get("/api/v1/catalog", headers=bearer(other_key))
    foreign = other.json()["meta"]["catalog"]["position"]["cursor"]
    response = await client.get(
        "/api/v1/catalog/changes", params={"since": foreign}, headers=bearer(shop.kiosk_key)
    )
    assert_error(response, 410, "CATALOG_RESYNC_REQUIRED")
    assert other_store.id != shop.store.id


async def test_an_unreadable_cursor_is_422(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    forged = base64.urlsafe_b64encode(json.dumps({"e": "x", "o": -1}).encode()).decode()
    for since in ("garbage", forged):
        response = await client.get(
            "/api/v1/catalog/changes", params={"since": since}, headers=bearer(shop.kiosk_key)
        )
        assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["query", "since"]]
    missing = await client.get("/api/v1/catalog/changes", headers=bearer(shop.kiosk_key))
    assert_error(missing, 422, "VALIDATION_ERROR")


async def test_enrichment_changes_reach_kiosks(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Shown")
    cursor = await start_cursor(client, shop)
    manager = await sign_in(client, shop.manager)
    url = f"/api/v1/stores/{shop.store.id}/products/{product.id}/enrichment"
    for patch in ({"featured": True}, {"hidden": True}, {"sort_order": 4}, {"hidden": False}):
        assert (await client.patch(url, json=patch, headers=manager)).status_code == 200
    body = await changes(client, shop, cursor)
    # Hidden -> still hidden (sort_order) tells kiosks nothing.
    assert [(c["type"], c["data"]["featured"], c["data"]["sort_order"]) for c in body["data"]] == [
        ("product.updated", True, 0),
        ("product.deactivated", True, 0),
        ("product.updated", True, 4),
    ]
    kiosk_view = data_of(
        await client.get(f"/api/v1/catalog/products/{product.id}", headers=bearer(shop.kiosk_key))
    )
    assert body["data"][-1]["data"] == kiosk_view


async def test_the_event_view_is_the_api_view(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Shown", tags=["a"])
    await enrich(database, product, tags=["b"], description="d")
    scope = TenantScope(organization_id=shop.organization.id, store_ids=frozenset({shop.store.id}))
    async with database.transaction() as session:
        loaded = await session.get(Product, product.id)
        assert loaded is not None
        variants = await repository.variants_by_product(session, scope, shop.store.id)
        enrichment = await repository.enrichment(session, scope, shop.store.id, product.id)
        event = kiosk_event_data(loaded, variants[product.id], enrichment)
    api = data_of(
        await client.get(f"/api/v1/catalog/products/{product.id}", headers=bearer(shop.kiosk_key))
    )
    assert event == api
    assert event["tags"] == ["a", "b"]
