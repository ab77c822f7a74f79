"""The catalog index cache behind GET /api/v1/catalog (`listing.CatalogIndexCache`): built once,
brought on from the products each write kiosks would notice names (a sync, an enrichment change,
hiding a product), untouched by orders, built again when nothing says what changed (a sync batch
without events), never shared between stores, bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from ridgeline.app import app_services
from ridgeline.catalog.listing import CatalogIndex, CatalogIndexCache, CatalogVersion, ListingEntry
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import ProductVariant, SyncKind, SyncRun, SyncStatus, SyncTrigger
from ridgeline.pos.client import PosConnector
from ridgeline.realtime import streams
from ridgeline.sync.service import run_sync
from tests.assertions import data_of
from tests.catalog.factories import add_store, make_product, make_shop
from tests.factories import bearer, make_kiosk, sign_in
from tests.pos.simulator import create_store
from tests.sync.conftest import configure_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def indexes_of(app: FastAPI) -> CatalogIndexCache:
    cache: CatalogIndexCache = app_services(app).catalog_indexes
    return cache


async def listed(client: httpx.AsyncClient, key: str, query: str = "") -> list[dict[str, Any]]:
    return list(data_of(await client.get(f"/api/v1/catalog{query}", headers=bearer(key))))


async def test_the_index_is_built_once_then_follows_changes(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    shop = await make_shop(database)
    product = await make_product(database, shop.store, "Blue Dream")
    cache = indexes_of(app)
    for query in ("", "?sort=name", "?q=blue", "?in_stock=true&limit=1"):
        assert [i["name"] for i in await listed(client, shop.kiosk_key, query)] == ["Blue Dream"]
    assert (cache.misses, cache.hits) == (1, 3)

    manager = await sign_in(client, shop.manager)
    patched = await client.patch(
        f"/api/v1/stores/{shop.store.id}/products/{product.id}/enrichment",
        json={"sort_order": 2},
        headers=manager,
    )
    assert patched.status_code == 200, patched.text
    await listed(client, shop.kiosk_key)
    # Brought on from the one changed product, not built again.
    assert (cache.misses, cache.advances, cache.hits) == (1, 1, 3)


async def test_enrichment_changes_show_in_the_next_list(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    apple = await make_product(database, shop.store, "Apple", prices=[(1000, 1)])
    await make_product(database, shop.store, "Banana", prices=[(2000, 1)])
    cherry = await make_product(database, shop.store, "Cherry", prices=[(3000, 1)])
    key = shop.kiosk_key
    assert [i["name"] for i in await listed(client, key)] == ["Apple", "Banana", "Cherry"]
    assert await listed(client, key, "?q=staff") == []

    manager = await sign_in(client, shop.manager)
    url = f"/api/v1/stores/{shop.store.id}/products"
    featured = await client.patch(
        f"{url}/{cherry.id}/enrichment",
        json={"featured": True, "tags": ["Staff pick"]},
        headers=manager,
    )
    assert featured.status_code == 200, featured.text
    # Featured first (a sort), and searchable by its enrichment tag (the merged tags).
    assert [i["name"] for i in await listed(client, key)] == ["Cherry", "Apple", "Banana"]
    assert [i["name"] for i in await listed(client, key, "?q=STAFF")] == ["Cherry"]

    hidden = await client.patch(
        f"{url}/{apple.id}/enrichment", json={"hidden": True}, headers=manager
    )
    assert hidden.status_code == 200, hidden.text
    assert [i["name"] for i in await listed(client, key)] == ["Cherry", "Banana"]
    assert [i["name"] for i in await listed(client, key, "?sort=price_asc")] == [
        "Banana",
        "Cherry",
    ]
    shown = await client.patch(
        f"{url}/{apple.id}/enrichment", json={"hidden": False}, headers=manager
    )
    assert shown.status_code == 200, shown.text
    assert [i["name"] for i in await listed(client, key, "?sort=price_asc")] == [
        "Apple",
        "Banana",
        "Cherry",
    ]


async def test_two_stores_never_share_entries(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    shop = await make_shop(database)
    other_store, other_key = await add_store(database, shop, "Second St")
    # Both streams are at offset 0 of their own epoch: the store id keeps them apart.
    await make_product(database, shop.store, "Mine", tags=["shared"])
    await make_product(database, other_store, "Theirs", tags=["shared"])
    for _ in range(2):
        assert [i["name"] for i in await listed(client, shop.kiosk_key, "?q=shared")] == ["Mine"]
        assert [i["name"] for i in await listed(client, other_key, "?q=shared")] == ["Theirs"]
    assert len(indexes_of(app)) == 2


@pytest.fixture(scope="module")
def simulator_seed() -> int:
    """This module's simulator catalog (`control`: tests/simulated_pos.py)."""
    return 5


async def test_a_sync_change_shows_in_the_next_list(
    client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    connector: PosConnector,
    control: httpx.Client,
    clock: FakeClock,
) -> None:
    synced = await configure_store(database, connector, create_store(control, "dutchie", 8))

    async def sync(kind: SyncKind) -> None:
        run = await run_sync(
            database, connector, synced.store_id, kind, SyncTrigger.OPERATOR, clock=clock
        )
        assert run.status is SyncStatus.SUCCEEDED, run.error

    await sync(SyncKind.FULL)
    _, key, _ = await make_kiosk(database, synced.tenant.store)
    before = await listed(client, key, "?sort=price_asc&limit=200")
    cheapest = before[0]
    assert await listed(client, key, "?q=Renamed") == []

    sim_product = next(p for p in synced.sim.products() if str(p["id"]) == cheapest["external_id"])
    synced.sim.change_product(sim_product["id"], price_cents=999_999, name="Renamed Flower")
    clock.advance(60)
    await sync(SyncKind.INCREMENTAL)

    after = await listed(client, key, "?sort=price_asc&limit=200")
    # The sync's own events brought the index on: no second build.
    assert (indexes_of(app).misses, indexes_of(app).advances) == (1, 1)
    assert after[-1]["id"] == cheapest["id"]  # now the dearest: the sort saw the new price
    assert after[-1]["variants"][0]["price_cents"] == 999_999
    assert [i["id"] for i in await listed(client, key, "?q=renamed")] == [cheapest["id"]]


async def test_orders_never_move_the_index_and_a_304_reads_no_page(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    shop = await make_shop(database)
    await make_product(database, shop.store, "Blue Dream")
    kiosk = bearer(shop.kiosk_key)
    first = await client.get("/api/v1/catalog", headers=kiosk)
    cache = indexes_of(app)
    assert (cache.misses, cache.advances, cache.hits) == (1, 0, 0)
    for _ in range(3):
        async with database.transaction() as session:
            await streams.append(
                session,
                streams.store_stream(shop.store.id),
                "order.status",
                {"order_id": str(uuid.uuid4()), "status": "accepted"},
                at=datetime.now(UTC),
            )
    second = await client.get(
        "/api/v1/catalog", headers={**kiosk, "If-None-Match": first.headers["etag"]}
    )
    # The position in the body moved (a new ETag), the catalog did not: the same index.
    assert second.status_code == 200
    assert second.json()["meta"]["catalog"]["position"]["offset"] == 3
    assert second.json()["data"] == first.json()["data"]
    assert (cache.misses, cache.advances, cache.hits) == (1, 0, 1)
    revalidated = await client.get(
        "/api/v1/catalog", headers={**kiosk, "If-None-Match": second.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert (cache.misses, cache.advances, cache.hits) == (1, 0, 1)  # no index, no page


async def test_a_sync_batch_with_events_brings_the_index_on(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    """A batch's events and its run's heartbeat commit with the same `now`: the heartbeat is
    explained by the events, and the index is brought on from them."""
    shop = await make_shop(database)
    first = await make_product(database, shop.store, "First", prices=[(1000, 1)])
    await make_product(database, shop.store, "Second", prices=[(2000, 1)])
    now = datetime.now(UTC)
    async with database.transaction() as session:
        run = SyncRun(
            organization_id=shop.organization.id,
            store_id=shop.store.id,
            kind=SyncKind.INVENTORY,
            trigger=SyncTrigger.SCHEDULE,
            started_at=now,
            heartbeat_at=now,
        )
        session.add(run)
    query = "?in_stock=true"
    assert [i["name"] for i in await listed(client, shop.kiosk_key, query)] == ["First", "Second"]
    later = now + timedelta(seconds=1)
    async with database.transaction() as session:  # what one batch with events commits
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == first.id)
            .values(quantity_available=0)
        )
        await streams.append(
            session,
            streams.store_stream(shop.store.id),
            "inventory.changed",
            {"product_id": str(first.id), "variant_id": str(uuid.uuid4()), "quantity_available": 0},
            at=later,
        )
        await session.execute(
            update(SyncRun).where(SyncRun.id == run.id).values(heartbeat_at=later)
        )
    assert [i["name"] for i in await listed(client, shop.kiosk_key, query)] == ["Second"]
    cache = indexes_of(app)
    assert (cache.misses, cache.advances) == (1, 1)


async def test_a_sync_batch_written_without_events_shows_in_the_next_list(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    """A sync of more than RESYNC_THRESHOLD changes writes batches without events and appends one
    `catalog.resync` when it ends; each batch moves the running run's heartbeat instead."""
    shop = await make_shop(database)
    first = await make_product(database, shop.store, "First", prices=[(1000, 1)])
    await make_product(database, shop.store, "Second", prices=[(2000, 1)])
    now = datetime.now(UTC)
    async with database.transaction() as session:
        run = SyncRun(
            organization_id=shop.organization.id,
            store_id=shop.store.id,
            kind=SyncKind.FULL,
            trigger=SyncTrigger.OPERATOR,
            started_at=now,
            heartbeat_at=now,
        )
        session.add(run)
    query = "?sort=price_asc"
    assert [i["name"] for i in await listed(client, shop.kiosk_key, query)] == ["First", "Second"]

    async with database.transaction() as session:  # what one batch commits
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == first.id)
            .values(price_cents=3000)
        )
        await session.execute(
            update(SyncRun)
            .where(SyncRun.id == run.id)
            .values(heartbeat_at=now + timedelta(seconds=1))
        )
    assert [i["name"] for i in await listed(client, shop.kiosk_key, query)] == ["Second", "First"]
    assert indexes_of(app).misses == 2  # nothing says what the batch changed: built again


def _index(products: int) -> CatalogIndex:
    return CatalogIndex(
        [
            ListingEntry.of(
                product_id=uuid.uuid4(),
                name=f"p{n}",
                brand="",
                category="flower",
                strain_type=None,
                merged_tags=[],
                featured=False,
                sort_order=0,
                prices=[100],
                in_stock=True,
                created_at=T0 + timedelta(seconds=n),
            )
            for n in range(products)
        ]
    )


async def test_the_cache_drops_least_recently_used_stores_beyond_its_bound() -> None:
    cache = CatalogIndexCache(max_products=10)
    stores = [uuid.uuid4() for _ in range(3)]
    built: list[uuid.UUID] = []

    async def get(store_id: uuid.UUID, offset: int = 1) -> CatalogIndex:
        async def build() -> CatalogIndex:
            built.append(store_id)
            return _index(4)

        return await cache.index(store_id, CatalogVersion("epoch", offset), build)

    await get(stores[0])
    await get(stores[1])
    await get(stores[0])  # stores[1] is now the least recently used
    await get(stores[2])  # 12 entries > 10: stores[1] goes
    assert (len(cache), cache.size) == (2, 8)
    await get(stores[0])
    await get(stores[2])
    await get(stores[1])
    assert built == [stores[0], stores[1], stores[2], stores[1]]

    # A store bigger than the bound is still kept (alone): the next request must not rebuild.
    big = uuid.uuid4()
    assert len(await cache.index(big, CatalogVersion("epoch", 1), _async(_index(50)))) == 50
    assert len(cache) == 1
    assert len(await cache.index(big, CatalogVersion("epoch", 1), _async(_index(1)))) == 50


async def test_an_index_is_advanced_when_it_can_be_and_built_when_not() -> None:
    cache = CatalogIndexCache()
    store = uuid.uuid4()
    first = _index(2)
    advanced = _index(3)
    asked: list[tuple[int, int]] = []

    async def advance(
        held: CatalogVersion, index: CatalogIndex, target: CatalogVersion
    ) -> tuple[CatalogVersion, CatalogIndex] | None:
        asked.append((held.offset, target.offset))
        assert index is (first if held.offset == 5 else advanced)
        return (target, advanced) if target.epoch == held.epoch else None

    assert await cache.index(store, CatalogVersion("epoch", 5), _async(first), advance) is first
    assert await cache.index(store, CatalogVersion("epoch", 7), _async(_index(1)), advance) is (
        advanced
    )
    assert await cache.index(store, CatalogVersion("epoch", 7), _async(_index(1)), advance) is (
        advanced
    )
    assert (cache.misses, cache.advances, cache.hits) == (1, 1, 1)
    # `advance` says no (here: the stream was reset): built afresh.
    rebuilt = _index(1)
    assert await cache.index(store, CatalogVersion("other", 1), _async(rebuilt), advance) is (
        rebuilt
    )
    assert asked == [(5, 7), (7, 1)]
    assert (cache.misses, cache.advances, cache.hits) == (2, 1, 1)


def _async(index: CatalogIndex) -> Any:
    async def build() -> CatalogIndex:
        return index

    return build
