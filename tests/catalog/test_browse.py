"""GET /api/v1/catalog: what a kiosk sees, every filter and sort, stable paging, and isolation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ridgeline.db.engine import Database
from tests.assertions import assert_error, data_of, field_locs
from tests.catalog.factories import Shop, add_store, enrich, make_product, make_shop
from tests.factories import bearer, sign_in

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def names(client: httpx.AsyncClient, shop: Shop, query: str = "") -> list[str]:
    response = await client.get(f"/api/v1/catalog{query}", headers=bearer(shop.kiosk_key))
    return [item["name"] for item in data_of(response)]


async def every_page(
    client: httpx.AsyncClient, key: str, query: str, limit: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        url = f"/api/v1/catalog?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(url, headers=bearer(key))).json()
        assert body["meta"]["count"] == len(body["data"]) <= limit
        items.extend(body["data"])
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            return items


async def test_the_kiosk_view_merges_enrichment(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    product = await make_product(
        database,
        shop.store,
        "Blue Dream",
        strain_type="hybrid",
        tags=["Sativa-ish", "top"],
        image_urls=["https://pos.example/1.jpg"],
        prices=[(4500, 0), (1500, 3)],
        thc={"value": 21.5, "unit": "percent"},
    )
    await enrich(
        database,
        product,
        description="Sweet berry.",
        images=["https://cdn.example/hero.jpg"],
        tags=["TOP", "staff pick"],
        featured=True,
        sort_order=3,
    )
    [item] = data_of(await client.get("/api/v1/catalog", headers=bearer(shop.kiosk_key)))
    assert item["id"] == str(product.id)
    assert item["store_id"] == str(shop.store.id)
    assert item["description"] == "Sweet berry."
    assert item["images"] == ["https://cdn.example/hero.jpg", "https://pos.example/1.jpg"]
    assert item["tags"] == ["Sativa-ish", "top", "staff pick"]
    assert (item["featured"], item["sort_order"], item["in_stock"]) == (True, 3, True)
    assert item["thc"] == {"value": 21.5, "unit": "percent"}
    assert [(v["label"], v["price_cents"], v["quantity_available"]) for v in item["variants"]] == [
        ("1 g", 4500, 0),
        ("2 g", 1500, 3),
    ]
    assert item["synced_at"].endswith("Z")
    assert "hidden" not in item
    assert "is_active" not in item


async def test_hidden_and_inactive_products_never_appear(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    await make_product(database, shop.store, "Shown")
    hidden = await make_product(database, shop.store, "Hidden")
    await enrich(database, hidden, hidden=True)
    inactive = await make_product(database, shop.store, "Gone", is_active=False)
    assert await names(client, shop) == ["Shown"]
    for product in (hidden, inactive):
        response = await client.get(
            f"/api/v1/catalog/products/{product.id}", headers=bearer(shop.kiosk_key)
        )
        assert_error(response, 404, "NOT_FOUND")


async def test_a_kiosk_sees_only_its_own_store(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    other_store, other_key = await add_store(database, shop, "Second St")
    mine = await make_product(database, shop.store, "Mine")
    theirs = await make_product(database, other_store, "Theirs")
    assert await names(client, shop) == ["Mine"]
    other = [
        i["name"] for i in data_of(await client.get("/api/v1/catalog", headers=bearer(other_key)))
    ]
    assert other == ["Theirs"]
    response = await client.get(
        f"/api/v1/catalog/products/{theirs.id}", headers=bearer(shop.kiosk_key)
    )
    assert_error(response, 404, "NOT_FOUND")
    own = await client.get(f"/api/v1/catalog/products/{mine.id}", headers=bearer(shop.kiosk_key))
    assert data_of(own)["name"] == "Mine"


async def test_filters(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    await make_product(
        database, shop.store, "Blue Dream", brand="Acme", strain_type="hybrid", prices=[(1000, 2)]
    )
    await make_product(
        database,
        shop.store,
        "Gummies",
        brand="Sweet Co",
        category="edible",
        tags=["Sleep"],
        prices=[(2500, 0)],
    )
    await make_product(
        database,
        shop.store,
        "OG Kush 100%",
        brand="acme",
        strain_type="indica",
        prices=[(500, 0), (6000, 1)],
    )
    gummies = await make_product(database, shop.store, "Mints", brand="Sweet Co", category="edible")
    await enrich(database, gummies, tags=["after dinner"])

    assert await names(client, shop, "?category=edible&sort=name") == ["Gummies", "Mints"]
    assert await names(client, shop, "?brand=ACME&sort=name") == ["Blue Dream", "OG Kush 100%"]
    assert await names(client, shop, "?strain_type=indica") == ["OG Kush 100%"]
    assert await names(client, shop, "?in_stock=true&sort=name") == [
        "Blue Dream",
        "Mints",
        "OG Kush 100%",
    ]
    assert await names(client, shop, "?in_stock=false") == ["Gummies"]
    # Any variant in range: OG Kush's $5 variant is below, its $60 one above.
    assert await names(client, shop, "?min_price_cents=1000&max_price_cents=2500&sort=name") == [
        "Blue Dream",
        "Gummies",
        "Mints",
    ]
    assert await names(client, shop, "?min_price_cents=5000") == ["OG Kush 100%"]
    assert await names(client, shop, "?max_price_cents=600") == ["OG Kush 100%"]
    # Text search: name, brand, POS tags and enrichment tags, case-insensitively.
    assert await names(client, shop, "?q=dream") == ["Blue Dream"]
    assert await names(client, shop, "?q=SWEET&sort=name") == ["Gummies", "Mints"]
    assert await names(client, shop, "?q=sleep") == ["Gummies"]
    assert await names(client, shop, "?q=DINNER") == ["Mints"]
    assert await names(client, shop, "?q=100%25") == ["OG Kush 100%"]
    assert await names(client, shop, "?q=_") == []
    assert await names(client, shop, "?q=acme&strain_type=hybrid") == ["Blue Dream"]


async def test_bad_filters_are_422(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    for query in (
        "?category=weed",
        "?strain_type=x",
        "?sort=random",
        "?min_price_cents=-1",
        "?in_stock=maybe",
        "?limit=201",
    ):
        response = await client.get(f"/api/v1/catalog{query}", headers=bearer(shop.kiosk_key))
        assert_error(response, 422, "VALIDATION_ERROR")


async def _sort_catalog(database: Database, shop: Shop) -> None:
    specs = [
        ("Cherry", 3000, False, 0, 1),
        ("apple", 1000, True, 5, 2),
        ("Banana", 2000, True, 1, 3),
        ("Date", 500, False, 0, 4),
        ("elder", 4000, False, -1, 5),
    ]
    for name, price, featured, order, minutes in specs:
        product = await make_product(
            database,
            shop.store,
            name,
            prices=[(price, 1)],
            created_at=T0 + timedelta(minutes=minutes),
        )
        if featured or order:
            await enrich(database, product, featured=featured, sort_order=order)


SORTED = {
    "": ["Banana", "apple", "elder", "Cherry", "Date"],
    "featured": ["Banana", "apple", "elder", "Cherry", "Date"],
    "name": ["apple", "Banana", "Cherry", "Date", "elder"],
    "price_asc": ["Date", "apple", "Banana", "Cherry", "elder"],
    "price_desc": ["elder", "Cherry", "Banana", "apple", "Date"],
    "newest": ["elder", "Date", "Banana", "apple", "Cherry"],
}


async def test_sorts_and_stable_paging(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    await _sort_catalog(database, shop)
    for sort, expected in SORTED.items():
        query = f"&sort={sort}" if sort else ""
        for limit in (50, 1, 2, 3):
            paged = await every_page(client, shop.kiosk_key, query, limit)
            assert [i["name"] for i in paged] == expected, (sort, limit)


async def test_paging_has_no_duplicates_or_gaps_with_ties_and_inserts(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    for _ in range(7):  # the same name and price: only the id breaks the tie
        await make_product(database, shop.store, "Same", prices=[(1000, 1)], created_at=T0)
    first = (
        await client.get("/api/v1/catalog?limit=3&sort=price_asc", headers=bearer(shop.kiosk_key))
    ).json()
    # A product inserted before the cursor position does not shift the next pages.
    await make_product(database, shop.store, "Cheap", prices=[(1, 1)])
    rest = await every_page(
        client, shop.kiosk_key, f"&sort=price_asc&cursor={first['meta']['next_cursor']}", 2
    )
    ids = [i["id"] for i in first["data"]] + [i["id"] for i in rest]
    assert len(ids) == len(set(ids)) == 7


async def test_a_tampered_cursor_is_422(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    for name in ("a", "b", "c"):
        await make_product(database, shop.store, name)
    body = (
        await client.get("/api/v1/catalog?limit=1&sort=name", headers=bearer(shop.kiosk_key))
    ).json()
    cursor = body["meta"]["next_cursor"]
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**raw, "k": [7]}).encode()).decode()
    for bad, query in [
        ("not-a-cursor!", "sort=name"),
        (cursor[:-3], "sort=name"),
        (forged, "sort=name"),
        (cursor, "sort=price_asc"),  # issued for another sort
    ]:
        response = await client.get(
            f"/api/v1/catalog?cursor={bad}&{query}", headers=bearer(shop.kiosk_key)
        )
        assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["query", "cursor"]]


async def test_operators_cannot_browse_as_a_kiosk(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    headers = await sign_in(client, shop.admin)
    assert_error(await client.get("/api/v1/catalog", headers=headers), 403, "FORBIDDEN")
