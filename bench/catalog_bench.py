"""Catalog list benchmark: `GET /api/v1/catalog` of a 20,000-product store through the real ASGI
app (httpx ASGITransport), each case compared in the same run with the floor under it: one plain
indexed `SELECT ... LIMIT 50` of the same products table.

    .venv/bin/python -m bench.catalog_bench [--products 20000] [--rounds 9] [--database URL]

Cases: (a) a first page of 50, (b) with `q`, (c) with a price range and `in_stock`, (d) page 101
of a `price_asc` cursor walk, (e) a 304 revalidation, (ref) one product by id (the same app path
with the smallest read), then after each round a stock change written as a sync writes it: (f) the
first page after it, (g) the first page of another sort after it; (o) the first page after an
order's `order.status` event on the store stream; then (h) kiosks browsing (first pages, searches,
a cursor walk) for `--browse-s` seconds while a stock change arrives every second. (a)-(e), (ref)
and (o) run round-robin, one request each per round, so noise on a shared machine hits them
alike: read the ratios, not the absolute times.

Each case is printed with its target (docs/benchmarks.md, "Catalog list") as a ratio to the
same-run floor or to (a), and whether this run met it; a case that missed its target is run
again under cProfile and its top functions printed, to show where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
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
AFTER_ORDER = "(o) first page after an order event"
BROWSING = "(h) browsing, a change a second"
FLOOR = "floor: SELECT ... LIMIT 50"
FIRST_PAGE = "(a) first page, no filter"
# Each case's target: at most this many times the floor, or (a) ("a").
TARGETS: dict[str, tuple[float, str]] = {
    FIRST_PAGE: (4, "floor"),
    "(b) q=kush": (4, "floor"),
    "(c) price 2000-4000, in stock": (4, "floor"),
    "(d) page": (4, "floor"),
    "(e) 304 with If-None-Match": (2, "floor"),
    AFTER_CHANGE: (2, "a"),
    AFTER_ORDER: (2, "a"),
    BROWSING: (2, "a"),
}


def target_of(name: str) -> tuple[float, str] | None:
    return next((t for prefix, t in TARGETS.items() if name.startswith(prefix)), None)


async def make_store(
    database: Database, products: int
) -> tuple[Store, str, tuple[uuid.UUID, uuid.UUID]]:
    """A store of `products` products (1-3 variants each, some out of stock), enrichment on one
    in seven (tags, some featured or hidden), and a kiosk key. Returns the store, the key and
    one variant to change later (its id and its product's)."""
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
    return store, key, (variant_rows[0]["id"], variant_rows[0]["product_id"])


async def change_stock(
    database: Database, store: Store, variant: tuple[uuid.UUID, uuid.UUID], n: int
) -> None:
    """What an inventory sync writes: a variant's stock and its event on the store stream."""
    variant_id, product_id = variant
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
            {
                "product_id": str(product_id),
                "variant_id": str(variant_id),
                "quantity_available": n,
            },
            at=at,
        )


async def order_event(database: Database, store: Store) -> None:
    """What an order's status change appends to the store stream: not a catalog change."""
    async with database.transaction() as session:
        await streams.append(
            session,
            streams.store_stream(store.id),
            "order.status",
            {"order_id": str(uuid.uuid4()), "status": "accepted"},
            at=datetime.now(UTC),
        )


async def bench(products: int, rounds: int, database_url: str, browse_s: float) -> None:
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
        store, key, variant = await make_store(database, products)
        if database.dialect_name == "postgresql":
            # What autovacuum would have done by now: without statistics on the fresh rows the
            # planner reads a store's whole products to find 50 of them by id.
            async with database.transaction() as session:
                await session.execute(
                    text("ANALYZE products, product_variants, product_enrichments")
                )
        else:
            # What the store's first full sync would have left: a sync run that creates 1,000+
            # products refreshes SQLite's statistics (`Database.refresh_statistics`).
            await database.refresh_statistics()
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
                await change_stock(database, store, variant, next(changes) % 5)
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

            async def after_order() -> None:
                """An order moves the stream position (and so the ETag), not the catalog."""
                await order_event(database, store)
                began = time.perf_counter()
                response = await get(f"limit={PAGE}")
                times[AFTER_ORDER].append(time.perf_counter() - began)
                etag["If-None-Match"] = response.headers["etag"]

            async def browse() -> None:
                """Kiosks browse while a sync writes one stock change a second."""
                stop = asyncio.Event()

                async def writer() -> None:
                    n = 0
                    while not stop.is_set():
                        await change_stock(database, store, variant, n % 5)
                        n += 1
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), 1.0)

                queries = [
                    f"limit={PAGE}",
                    f"limit={PAGE}&q=kush",
                    f"limit={PAGE}&sort=price_asc",
                    f"limit={PAGE}&in_stock=true&sort=name",
                ]
                task = asyncio.create_task(writer())
                ends = time.perf_counter() + browse_s
                n = 0
                walk = ""
                while time.perf_counter() < ends:
                    query = queries[n % len(queries)] if n % 5 else deep_query + walk
                    began = time.perf_counter()
                    body = (await get(query)).json()
                    times[BROWSING].append(time.perf_counter() - began)
                    if not n % 5:
                        walk = f"&cursor={body['meta']['next_cursor']}"
                    n += 1
                stop.set()
                await task

            async def just(query: str) -> None:
                await get(query)

            cases: dict[str, Callable[[], Awaitable[None]]] = {
                FLOOR: floor,
                FIRST_PAGE: lambda: just(f"limit={PAGE}"),
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
            times[AFTER_ORDER] = []
            times[BROWSING] = []
            for _ in range(rounds):
                for name, case in cases.items():
                    began = time.perf_counter()
                    await case()
                    times[name].append(time.perf_counter() - began)
                await after_order()
                await after_change()
            await browse()

            medians = {name: statistics.median(samples) for name, samples in times.items()}
            missed = report(products, rounds, database_url, times, medians)
            profiled: dict[str, Callable[[], Awaitable[None]]] = {
                **cases,
                AFTER_CHANGE: after_change,
                AFTER_ORDER: after_order,
            }
            etag["If-None-Match"] = (await get(f"limit={PAGE}")).headers["etag"]
            for name in missed:
                if name in profiled:
                    await profile(name, profiled[name], rounds)
    finally:
        await app_services(app).pos_connector.aclose()
        await database.dispose()


def report(
    products: int,
    rounds: int,
    database_url: str,
    times: dict[str, list[float]],
    medians: dict[str, float],
) -> list[str]:
    """The table, and the cases that missed their target."""
    floor_s = medians[FLOOR]
    print(f"products={products} rounds={rounds} database={database_url.split(':')[0]}")
    print(f"{'case':<40}{'median ms':>10}{'x floor':>9}{'x (a)':>7}   target")
    missed = []
    for name, median in medians.items():
        count = f" (n={len(times[name])})" if name == BROWSING else ""
        line = f"{name:<40}{median * 1000:>10.2f}{median / floor_s:>9.1f}"
        line += f"{median / medians[FIRST_PAGE]:>7.1f}"
        target = target_of(name)
        if target is not None:
            limit, of = target
            ratio = median / (floor_s if of == "floor" else medians[FIRST_PAGE])
            met = ratio <= limit
            line += f"   <= {limit:g}x {of}: {'met' if met else 'MISSED'}"
            if not met:
                missed.append(name)
        print(line + count)
    if BROWSING in times:
        samples = sorted(times[BROWSING])
        p90 = samples[int(len(samples) * 0.9)]
        print(f"{BROWSING}: p90 {p90 * 1000:.2f} ms, max {samples[-1] * 1000:.2f} ms")
    return missed


async def profile(name: str, case: Callable[[], Awaitable[None]], rounds: int) -> None:
    """The case again, `rounds` times under cProfile: where its time goes."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        await case()
    profiler.disable()
    out = io.StringIO()
    # By own time: a request's awaits make cumulative times of the event loop's frames say little.
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print(f"\n--- profile of {name} ({rounds} runs), by own time ---")
    print("\n".join(out.getvalue().splitlines()[:40]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--browse-s", type=float, default=10.0, help="how long (h) browses")
    args = parser.parse_args()
    configure_logging(Settings(env=Environment.TEST, log_level="WARNING"))
    url = args.database or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    asyncio.run(bench(args.products, args.rounds, url, args.browse_s))


if __name__ == "__main__":
    main()
