"""Operator view of a store's products and enrichment changes (`catalog/enrichment.py`)."""

from __future__ import annotations

from typing import Any

import httpx

from ridgeline.db.engine import Database
from tests.assertions import assert_error, data_of, field_locs
from tests.catalog.factories import add_store, enrich, make_product, make_shop
from tests.factories import sign_in


async def test_operators_see_every_product_with_enrichment_apart(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    shown = await make_product(database, shop.store, "Shown", tags=["pos"])
    hidden = await make_product(database, shop.store, "Hidden", category="edible")
    await enrich(database, hidden, hidden=True, tags=["ours"])
    await make_product(database, shop.store, "Gone", is_active=False, brand="Other")
    viewer = await sign_in(client, shop.viewer)
    base = f"/api/v1/stores/{shop.store.id}/products"

    async def listed(query: str = "") -> list[str]:
        return [p["name"] for p in data_of(await client.get(base + query, headers=viewer))]

    assert sorted(await listed()) == ["Gone", "Hidden", "Shown"]
    assert await listed("?hidden=true") == ["Hidden"]
    assert sorted(await listed("?hidden=false")) == ["Gone", "Shown"]
    assert await listed("?is_active=false") == ["Gone"]
    assert await listed("?category=edible") == ["Hidden"]
    assert await listed("?q=oth") == ["Gone"]
    first = (await client.get(base + "?limit=2", headers=viewer)).json()
    rest = (
        await client.get(base + f"?limit=2&cursor={first['meta']['next_cursor']}", headers=viewer)
    ).json()
    assert len({p["id"] for p in first["data"] + rest["data"]}) == 3
    assert rest["meta"] == {"next_cursor": None, "count": 1}

    one = data_of(await client.get(f"{base}/{hidden.id}", headers=viewer))
    assert one["tags"] == []
    assert one["enrichment"]["tags"] == ["ours"]
    assert one["enrichment"]["hidden"] is True
    assert one["visible_to_kiosks"] is False
    plain = data_of(await client.get(f"{base}/{shown.id}", headers=viewer))
    assert plain["enrichment"]["updated_at"] is None
    assert plain["visible_to_kiosks"] is True


async def test_products_of_another_store_or_organization_are_404(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    second, _ = await add_store(database, shop, "Second St")
    theirs = await make_product(database, second, "Theirs")
    stranger = await make_shop(database)
    elsewhere = await make_product(database, stranger.store, "Elsewhere")
    admin = await sign_in(client, shop.admin)
    wrong_store = f"/api/v1/stores/{shop.store.id}/products/{theirs.id}"
    assert_error(await client.get(wrong_store, headers=admin), 404, "NOT_FOUND")
    other_org = f"/api/v1/stores/{stranger.store.id}/products/{elsewhere.id}"
    assert_error(await client.get(other_org, headers=admin), 404, "NOT_FOUND")
    # A store manager only reaches the stores assigned to them.
    manager = await sign_in(client, shop.manager)
    patch = await client.patch(
        f"/api/v1/stores/{second.id}/products/{theirs.id}/enrichment",
        json={"featured": True},
        headers=manager,
    )
    assert_error(patch, 404, "NOT_FOUND")


async def test_enrichment_patch_changes_only_what_is_sent(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Blue Dream")
    manager = await sign_in(client, shop.manager)
    url = f"/api/v1/stores/{shop.store.id}/products/{product.id}/enrichment"
    first = data_of(
        await client.patch(
            url,
            json={
                "description": "  Berry.  ",
                "images": ["https://cdn.example/a.jpg"],
                "tags": ["staff pick"],
                "featured": True,
                "sort_order": -2,
            },
            headers=manager,
        )
    )
    assert first["enrichment"]["description"] == "Berry."
    assert first["enrichment"]["updated_at"].endswith("Z")
    second = data_of(await client.patch(url, json={"description": None}, headers=manager))
    assert second["enrichment"] == {
        **first["enrichment"],
        "description": None,
        "updated_at": second["enrichment"]["updated_at"],
    }
    assert second["name"] == "Blue Dream"  # POS fields are not the operator's to change


INVALID_PATCHES: list[tuple[dict[str, Any], list[str]]] = [
    ({"name": "Renamed"}, ["body", "name"]),
    ({"images": ["ftp://cdn.example/a.jpg"]}, ["body", "images", "0"]),
    ({"images": ["not a url"]}, ["body", "images", "0"]),
    ({"images": ["https://x.example/a.jpg"] * 21}, ["body", "images"]),
    ({"tags": ["x" * 51]}, ["body", "tags", "0"]),
    ({"tags": [""]}, ["body", "tags", "0"]),
    ({"description": "x" * 5001}, ["body", "description"]),
    ({"description": "nul\u0000"}, ["body", "description"]),
    ({"hidden": None}, ["body", "hidden"]),
    ({"sort_order": 10**9}, ["body", "sort_order"]),
    ({"featured": "yes please"}, ["body", "featured"]),
]


async def test_enrichment_patch_is_validated(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store)
    manager = await sign_in(client, shop.manager)
    url = f"/api/v1/stores/{shop.store.id}/products/{product.id}/enrichment"
    for body, loc in INVALID_PATCHES:
        response = await client.patch(url, json=body, headers=manager)
        assert loc in field_locs(assert_error(response, 422, "VALIDATION_ERROR")), body
    unchanged = data_of(await client.get(url.removesuffix("/enrichment"), headers=manager))
    assert unchanged["enrichment"]["updated_at"] is None


async def test_viewers_cannot_write(client: httpx.AsyncClient, database: Database) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store)
    viewer = await sign_in(client, shop.viewer)
    store = f"/api/v1/stores/{shop.store.id}"
    writes = [
        ("PATCH", f"{store}/products/{product.id}/enrichment", {"hidden": True}),
        ("PUT", f"{store}/rfid-tags/E2001", {"product_id": str(product.id)}),
        ("DELETE", f"{store}/rfid-tags/E2001", None),
    ]
    for method, url, body in writes:
        response = await client.request(method, url, json=body, headers=viewer)
        assert_error(response, 403, "FORBIDDEN")
    assert data_of(await client.get(f"{store}/rfid-tags", headers=viewer)) == []
    assert (
        data_of(await client.get(f"{store}/products/{product.id}", headers=viewer))["enrichment"][
            "hidden"
        ]
        is False
    )
