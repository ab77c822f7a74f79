"""The catalog index cache behind GET /api/v1/catalog (`listing.CatalogIndexCache`): built once per
store stream position, rebuilt after every write kiosks would notice (a sync, an enrichment
change, hiding a product), never shared between stores, bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from ridgeline.app import app_services
from ridgeline.catalog.listing import CatalogIndex, CatalogIndexCache, ListingEntry
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import ProductVariant, SyncKind, SyncRun, SyncStatus, SyncTrigger
from ridgeline.pos.client import PosConnector
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


async def test_the_index_is_built_once_per_stream_position(
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
    assert (cache.misses, cache.hits) == (2, 3)


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
    assert after[-1]["id"] == cheapest["id"]  # now the dearest: the sort saw the new price
    assert after[-1]["variants"][0]["price_cents"] == 999_999
    assert [i["id"] for i in await listed(client, key, "?q=renamed")] == [cheapest["id"]]


async def test_a_sync_batch_written_without_events_shows_in_the_next_list(
    client: httpx.AsyncClient, database: Database
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

        return await cache.index(store_id, ("epoch", offset, ()), build)

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
    assert len(await cache.index(big, ("epoch", 1, ()), _async(_index(50)))) == 50
    assert len(cache) == 1
    assert len(await cache.index(big, ("epoch", 1, ()), _async(_index(1)))) == 50


async def test_an_older_position_never_replaces_a_newer_one() -> None:
    cache = CatalogIndexCache()
    store = uuid.uuid4()
    newer = _index(2)
    await cache.index(store, ("epoch", 5, ()), _async(newer))
    older = await cache.index(store, ("epoch", 4, ()), _async(_index(3)))
    assert len(older) == 3  # the slow request still gets what it built
    assert await cache.index(store, ("epoch", 5, ()), _async(_index(1))) is newer
    # A new epoch (the stream was reset) replaces whatever the offsets say.
    assert len(await cache.index(store, ("other", 1, ()), _async(_index(1)))) == 1


def _async(index: CatalogIndex) -> Any:
    async def build() -> CatalogIndex:
        return index

    return build
