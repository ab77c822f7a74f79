"""Catalog list benchmark: `GET /api/v1/catalog` of a 20,000-product store through the real ASGI
app (httpx ASGITransport), each case compared in the same run with the floor under it: one plain
indexed `SELECT ... LIMIT 50` of the same products table.

    .venv/bin/python -m bench.catalog_bench [--products 20000] [--rounds 9] [--database URL]

Cases: (a) a first page of 50, (b) with `q`, (c) with a price range and `in_stock`, (d) page 101
of a `price_asc` cursor walk, (e) a 304 revalidation, (ref) one product by id (the same app path
with the smallest read), then after each round a stock change written as a sync writes it: (f) the
first page after it, (g) the first page of another sort after it. (a)-(e) and (ref) run
round-robin, one request each per round, so noise on a shared machine hits them alike: read the
ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select, text, update

from ridgeline.app import app_services, create_app
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.config import Environment, LogFormat, Settings
from ridgeline.db import migrate
from ridgeline.db.engine import Database
from ridgeline.models import (
    Kiosk,
    KioskApiKey,
    Organization,
    Product,
    ProductEnrichment,
    ProductVariant,
    Store,
)
from ridgeline.monitoring.logging import configure_logging
from ridgeline.realtime import streams

CATEGORIES = ["flower", "pre_roll", "vape", "concentrate", "edible", "beverage", "tincture"]
STRAINS = ["indica", "sativa", "hybrid", "cbd", None]
WORDS = ["Blue", "Dream", "Kush", "Haze", "Gelato", "Sour", "Diesel", "Cookies", "Mint", "Lemon"]
TAGS = ["Sleep", "Focus", "Relax", "Energy", "Calm", "Creative", "Pain", "Social"]
PAGE = 50
AFTER_CHANGE = "(f) first page after a stock change"
ANOTHER_SORT = "(g) then first page of price_asc"


async def make_store(database: Database, products: int) -> tuple[Store, str, uuid.UUID]:
    """A store of `products` products (1-3 variants each, some out of stock), enrichment on one
    in seven (tags, some featured or hidden), and a kiosk key. Returns the store, the key and
    one variant to change later."""
    key = new_kiosk_key()
    now = datetime.now(UTC)
    async with database.transaction() as session:
        organization = Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
        session.add(organization)
        await session.flush()
        store = Store(organization_id=organization.id, name="Bench store")
        session.add(store)
        await session.flush()
        kiosk = Kiosk(organization_id=organization.id, store_id=store.id, name="Kiosk 1")
        session.add(kiosk)
        await session.flush()
        session.add(
            KioskApiKey(
                organization_id=organization.id,
                kiosk_id=kiosk.id,
                key_hash=digest(key),
                key_prefix=display_prefix(key),
                created_at=now,
            )
        )
    product_rows: list[dict[str, Any]] = []
    variant_rows: list[dict[str, Any]] = []
    enrichment_rows: list[dict[str, Any]] = []
    common = {"organization_id": store.organization_id, "store_id": store.id}
    for n in range(products):
        product_id = uuid.uuid4()
        name = f"{WORDS[n % 10]} {WORDS[(n // 10) % 10]} {n}"
        product_rows.append(
            {
                **common,
                "id": product_id,
                "external_id": f"p{n}",
                "sku": f"SKU-{n}",
                "name": name,
                "brand": f"Brand {n % 40}",
                "category": CATEGORIES[n % len(CATEGORIES)],
                "strain_type": STRAINS[n % len(STRAINS)],
                "thc": {"value": 10 + n % 20, "unit": "percent"},
                "is_active": n % 50 != 49,
                "image_urls": [f"https://pos.example/{n}.jpg"],
                "tags": [TAGS[n % len(TAGS)], TAGS[(n // 3) % len(TAGS)]],
                "content_hash": "0" * 64,
                "synced_at": now,
                "created_at": now - timedelta(seconds=n),
                "updated_at": now,
            }
        )
        for position in range(1 + n % 3):
            variant_rows.append(
                {
                    **common,
                    "id": uuid.uuid4(),
                    "product_id": product_id,
                    "external_id": f"p{n}-v{position}",
                    "label": f"{position + 1} g",
                    "weight_grams": float(position + 1),
                    "price_cents": 500 + (n * 37 + position * 1100) % 9000,
                    "quantity_available": (n + position) % 7,
                    "position": position,
                }
            )
        if n % 7 == 0:
            enrichment_rows.append(
                {
                    **common,
                    "product_id": product_id,
                    "description": f"Notes on {name}.",
                    "images": [f"https://cdn.example/{n}.jpg"],
                    "tags": ["staff pick", TAGS[(n + 1) % len(TAGS)]],
                    "hidden": n % 91 == 0,
                    "featured": n % 140 == 0,
                    "sort_order": n % 5,
                    "updated_at": now,
                }
            )
    async with database.transaction() as session:
        for table, rows in (
            (Product, product_rows),
            (ProductVariant, variant_rows),
            (ProductEnrichment, enrichment_rows),
        ):
            for start in range(0, len(rows), 500):
                await session.execute(insert(table), rows[start : start + 500])
    return store, key, variant_rows[0]["id"]


async def change_stock(database: Database, store: Store, variant_id: uuid.UUID, n: int) -> None:
    """What an inventory sync writes: a variant's stock and its event on the store stream."""
    at = datetime.now(UTC)
    async with database.transaction() as session:
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.id == variant_id)
            .values(quantity_available=n)
        )
        await streams.append(
            session,
            streams.store_stream(store.id),
            "inventory.changed",
            {"variant_id": str(variant_id), "quantity_available": n},
            at=at,
        )


async def bench(products: int, rounds: int, database_url: str) -> None:
    settings = Settings(
        env=Environment.TEST,
        database_url=database_url,
        log_format=LogFormat.JSON,
        run_worker_in_process=False,
        # One kiosk key reads as fast as it can: far over its default budget (docs/benchmarks.md).
        api_rate_limit_kiosk_read="10000000/60s burst 1000000",
    )
    migrate.upgrade(database_url)
    database = Database(database_url)
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    try:
        began = time.perf_counter()
        store, key, variant_id = await make_store(database, products)
        if database.dialect_name == "postgresql":
            # What autovacuum would have done by now: without statistics on the fresh rows the
            # planner reads a store's whole products to find 50 of them by id.
            async with database.transaction() as session:
                await session.execute(
                    text("ANALYZE products, product_variants, product_enrichments")
                )
        print(f"seeded {products} products in {time.perf_counter() - began:.1f} s")
        kiosk = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def get(query: str, headers: dict[str, str] | None = None) -> httpx.Response:
                response = await client.get(f"/api/v1/catalog?{query}", headers=headers or kiosk)
                if response.status_code not in (200, 304):
                    raise RuntimeError(f"{query}: {response.status_code} {response.text}")
                return response

            # A cursor deep in a walk: page 101 of price_asc (items 5,001-5,050 of 20,000).
            deep_query = f"limit={PAGE}&sort=price_asc"
            cursor = ""
            depth = min(100, products // PAGE // 2)
            for _ in range(depth):
                body = (await get(deep_query + cursor)).json()
                cursor = f"&cursor={body['meta']['next_cursor']}"
            first = await get(f"limit={PAGE}")
            etag = {"If-None-Match": first.headers["etag"]}
            one_product = f"/api/v1/catalog/products/{first.json()['data'][0]['id']}"

            async def floor() -> None:
                async with database.transaction(write=False) as session:
                    statement = (
                        select(Product)
                        .where(Product.store_id == store.id, Product.is_active.is_(True))
                        .limit(PAGE)
                    )
                    rows = (await session.scalars(statement)).all()
                    assert len(rows) == PAGE

            async def expect_304() -> None:
                response = await get(f"limit={PAGE}", {**kiosk, **etag})
                assert response.status_code == 304

            changes = iter(range(10**6))

            async def after_change() -> None:
                """A change moves the catalog's version: the next request rebuilds the index
                and its sort; the first request of another sort at that version sorts again."""
                await change_stock(database, store, variant_id, next(changes) % 5)
                began = time.perf_counter()
                response = await get(f"limit={PAGE}")
                times[AFTER_CHANGE].append(time.perf_counter() - began)
                etag["If-None-Match"] = response.headers["etag"]
                began = time.perf_counter()
                await get(f"limit={PAGE}&sort=price_asc")
                times[ANOTHER_SORT].append(time.perf_counter() - began)

            async def product() -> None:
                response = await client.get(one_product, headers=kiosk)
                assert response.status_code == 200

            async def just(query: str) -> None:
                await get(query)

            cases: dict[str, Callable[[], Awaitable[None]]] = {
                "floor: SELECT ... LIMIT 50": floor,
                "(a) first page, no filter": lambda: just(f"limit={PAGE}"),
                "(b) q=kush": lambda: just(f"limit={PAGE}&q=kush"),
                "(c) price 2000-4000, in stock": lambda: just(
                    f"limit={PAGE}&min_price_cents=2000&max_price_cents=4000&in_stock=true"
                ),
                f"(d) page {depth + 1} of a price_asc walk": lambda: just(deep_query + cursor),
                "(e) 304 with If-None-Match": expect_304,
                "(ref) GET /catalog/products/{id}": product,
            }
            times: dict[str, list[float]] = {name: [] for name in cases}
            times[AFTER_CHANGE] = []
            times[ANOTHER_SORT] = []
            for _ in range(rounds):
                for name, case in cases.items():
                    began = time.perf_counter()
                    await case()
                    times[name].append(time.perf_counter() - began)
                await after_change()
    finally:
        await app_services(app).pos_connector.aclose()
        await database.dispose()

    floor_s = statistics.median(times["floor: SELECT ... LIMIT 50"])
    print(f"products={products} rounds={rounds} database={database_url.split(':')[0]}")
    print(f"{'case':<40}{'median ms':>10}{'x floor':>10}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<40}{median * 1000:>10.2f}{median / floor_s:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    configure_logging(Settings(env=Environment.TEST, log_level="WARNING"))
    url = args.database or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    asyncio.run(bench(args.products, args.rounds, url))


if __name__ == "__main__":
    main()
