"""RFID tags (`catalog/rfid_tags.py`): operators point tags at products, kiosks look them up."""

from __future__ import annotations

import uuid

import httpx

from ridgeline.db.engine import Database
from tests.assertions import assert_error, data_of, field_locs
from tests.catalog.factories import add_store, enrich, make_product, make_shop
from tests.factories import bearer, sign_in


async def test_rfid_tags_map_to_products(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    first = await make_product(database, shop.store, "First")
    second = await make_product(database, shop.store, "Second")
    manager = await sign_in(client, shop.manager)
    kiosk = bearer(shop.kiosk_key)
    tags = f"/api/v1/stores/{shop.store.id}/rfid-tags"

    async def point(tag: str, product_id: uuid.UUID) -> httpx.Response:
        return await client.put(
            f"{tags}/{tag}", json={"product_id": str(product_id)}, headers=manager
        )

    async def scanned(tag: str) -> str:
        found = data_of(await client.get(f"/api/v1/catalog/rfid/{tag}", headers=kiosk))
        return str(found["name"])

    created = await point("E2000A", first.id)
    assert data_of(created, 201)["product_id"] == str(first.id)
    assert await scanned("E2000A") == "First"

    moved = await point("E2000A", second.id)
    assert data_of(moved, 200)["id"] == data_of(created, 201)["id"]
    assert await scanned("E2000A") == "Second"
    await point("E2000B", first.id)

    listed = data_of(await client.get(tags, headers=manager))
    assert sorted((t["tag"], t["product_id"]) for t in listed) == sorted(
        [("E2000A", str(second.id)), ("E2000B", str(first.id))]
    )
    only = data_of(await client.get(f"{tags}?product_id={first.id}", headers=manager))
    assert [t["tag"] for t in only] == ["E2000B"]

    deleted = await client.delete(f"{tags}/E2000A", headers=manager)
    assert deleted.status_code == 204
    assert_error(await client.delete(f"{tags}/E2000A", headers=manager), 404, "NOT_FOUND")
    assert_error(await client.get("/api/v1/catalog/rfid/E2000A", headers=kiosk), 404, "NOT_FOUND")


async def test_rfid_lookups_never_show_hidden_or_foreign_products(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    second, second_key = await add_store(database, shop, "Second St")
    hidden = await make_product(database, shop.store, "Hidden")
    await enrich(database, hidden, hidden=True)
    inactive = await make_product(database, shop.store, "Inactive", is_active=False)
    theirs = await make_product(database, second, "Theirs")
    admin = await sign_in(client, shop.admin)
    tags = f"/api/v1/stores/{shop.store.id}/rfid-tags"
    for tag, product in (("HID", hidden), ("OFF", inactive)):
        response = await client.put(
            f"{tags}/{tag}", json={"product_id": str(product.id)}, headers=admin
        )
        assert response.status_code == 201
        lookup = await client.get(f"/api/v1/catalog/rfid/{tag}", headers=bearer(shop.kiosk_key))
        assert_error(lookup, 404, "NOT_FOUND")
    # A tag cannot point at another store's product, and another store's kiosk cannot read it.
    foreign = await client.put(f"{tags}/X1", json={"product_id": str(theirs.id)}, headers=admin)
    assert_error(foreign, 404, "NOT_FOUND")
    assert_error(
        await client.get("/api/v1/catalog/rfid/HID", headers=bearer(second_key)), 404, "NOT_FOUND"
    )
    assert_error(
        await client.get("/api/v1/catalog/rfid/NOPE", headers=bearer(shop.kiosk_key)),
        404,
        "NOT_FOUND",
    )


async def test_rfid_tag_ids_are_validated(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store)
    admin = await sign_in(client, shop.admin)
    tags = f"/api/v1/stores/{shop.store.id}/rfid-tags"
    for bad in ("has space", "x" * 129, "semi;colon", "...", "...."):
        response = await client.put(
            f"{tags}/{bad}", json={"product_id": str(product.id)}, headers=admin
        )
        assert_error(response, 422, "VALIDATION_ERROR")
    unknown_field = await client.put(
        f"{tags}/OK1", json={"product_id": str(product.id), "extra": 1}, headers=admin
    )
    assert field_locs(assert_error(unknown_field, 422, "VALIDATION_ERROR")) == [["body", "extra"]]
