"""ETags and 304s on catalog reads, and the freshness the catalog reports."""

from __future__ import annotations

from datetime import timedelta

import httpx

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from tests.assertions import data_of
from tests.catalog.factories import enrich, make_product, make_shop, make_sync_state, set_price
from tests.factories import bearer, sign_in


async def test_the_catalog_answers_304_until_something_changes(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Blue Dream", prices=[(2000, 1)])
    kiosk = bearer(shop.kiosk_key)
    first = await client.get("/api/v1/catalog", headers=kiosk)
    etag = first.headers["etag"]
    assert first.status_code == 200
    assert etag.startswith('"')
    assert not etag.startswith('"W/')

    again = await client.get("/api/v1/catalog", headers={**kiosk, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    listed = f'"nope", W/{etag}'
    assert (
        await client.get("/api/v1/catalog", headers={**kiosk, "If-None-Match": listed})
    ).status_code == 304

    # A price change (what a sync writes) changes the ETag.
    await set_price(database, product, 2500)
    priced = await client.get("/api/v1/catalog", headers={**kiosk, "If-None-Match": etag})
    assert priced.status_code == 200
    assert data_of(priced)[0]["variants"][0]["price_cents"] == 2500
    assert priced.headers["etag"] != etag

    # So does an operator's enrichment change.
    etag = priced.headers["etag"]
    manager = await sign_in(client, shop.manager)
    patched = await client.patch(
        f"/api/v1/stores/{shop.store.id}/products/{product.id}/enrichment",
        json={"description": "Now with words."},
        headers=manager,
    )
    assert patched.status_code == 200, patched.text
    enriched = await client.get("/api/v1/catalog", headers={**kiosk, "If-None-Match": etag})
    assert enriched.status_code == 200
    assert data_of(enriched)[0]["description"] == "Now with words."
    assert enriched.headers["etag"] != etag


async def test_a_product_answers_304_until_it_changes(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Blue Dream")
    kiosk = bearer(shop.kiosk_key)
    url = f"/api/v1/catalog/products/{product.id}"
    first = await client.get(url, headers=kiosk)
    assert data_of(first)["name"] == "Blue Dream"
    etag = first.headers["etag"]
    assert (await client.get(url, headers={**kiosk, "If-None-Match": etag})).status_code == 304
    await set_price(database, product, 999)
    changed = await client.get(url, headers={**kiosk, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_a_store_never_synced_is_stale(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    body = (await client.get("/api/v1/catalog", headers=bearer(shop.kiosk_key))).json()
    catalog = body["meta"]["catalog"]
    assert catalog["last_synced_at"] is None
    assert catalog["stale"] is True
    position = catalog["position"]
    assert position["stream_id"] == f"store:{shop.store.id}"
    assert position["offset"] == 0
    assert position["epoch"]
    assert position["cursor"]
    assert body["meta"]["next_cursor"] is None
    assert body["meta"]["count"] == 0


async def test_a_sync_state_without_success_is_stale(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    await make_sync_state(database, shop.store, last_success_at=None, stale_after_s=600)
    body = (await client.get("/api/v1/catalog", headers=bearer(shop.kiosk_key))).json()
    assert body["meta"]["catalog"]["stale"] is True


async def test_a_recent_sync_is_fresh_until_stale_after_s(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    shop = await make_shop(database)
    synced = clock.now() - timedelta(seconds=60)
    await make_sync_state(database, shop.store, last_success_at=synced, stale_after_s=600)
    kiosk = bearer(shop.kiosk_key)
    catalog = (await client.get("/api/v1/catalog", headers=kiosk)).json()["meta"]["catalog"]
    assert catalog["stale"] is False
    assert catalog["last_synced_at"] == synced.isoformat().replace("+00:00", "Z")
    etag = (await client.get("/api/v1/catalog", headers=kiosk)).headers["etag"]
    clock.advance(541)
    later = await client.get("/api/v1/catalog", headers={**kiosk, "If-None-Match": etag})
    assert later.status_code == 200  # the staleness flag is part of the content
    assert later.json()["meta"]["catalog"]["stale"] is True


async def test_enrichment_of_a_hidden_product_keeps_it_out(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Secret")
    await enrich(database, product, hidden=True)
    body = (await client.get("/api/v1/catalog", headers=bearer(shop.kiosk_key))).json()
    assert body["data"] == []
