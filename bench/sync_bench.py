"""Sync benchmark: a full sync of a 10,000-product catalog from the POS simulator over HTTP, and an
incremental sync that finds 10 changes, each compared in the same run with the floor under it: a
raw fetch of the same data plus a bulk insert (no mapping overrides, hashing, change detection,
events or bookkeeping).

    .venv/bin/python -m bench.sync_bench [--products 10000] [--dialect dutchie] [--rounds 3]
                                         [--db sqlite|postgresql] [--pg-url URL] [--database URL]

Each round syncs the catalog into a new store and then runs the floor into another; the table
gives the median of the rounds and full / floor the median of the rounds' ratios. Absolute times
on a shared 2-core machine are noisy: read the ratios. Target (issue 19): full sync within
`TARGET_RATIO` of the floor. `--db postgresql` runs on a scratch database of `--pg-url`'s server,
dropped at the end; `--database` names a migrated database of your own instead.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import insert

from bench.orders_bench import PG_ADMIN_URL, scratch_database
from ridgeline.clock import SystemClock
from ridgeline.config import Environment, LogFormat, Settings
from ridgeline.db import migrate
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import Organization, Product, ProductVariant, Store, SyncKind, SyncTrigger
from ridgeline.monitoring.logging import configure_logging
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.possim import create_simulator_app
from ridgeline.sync.service import run_sync

# Full sync / floor, at most (issue 19, item 6).
TARGET_RATIO = 2.0


def start_simulator(products: int, dialect: str) -> tuple[str, dict[str, Any], uvicorn.Server]:
    app = create_simulator_app(seed=11)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, ws="none", lifespan="off")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    root = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    store = httpx.post(f"{root}/_sim/stores", json={"dialect": dialect, "products": products})
    store.raise_for_status()
    return root, store.json(), server


async def make_store(database: Database, connector: PosConnector, sim: dict[str, Any]) -> Store:
    async with database.transaction() as session:
        organization = Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
        session.add(organization)
        await session.flush()
        store = Store(organization_id=organization.id, name="Bench store")
        session.add(store)
        await session.flush()
        body = StorePosUpdate(provider=sim["dialect"], config={**sim["config"], "timeout_s": 60})
        await pos_service.configure(
            session,
            TenantScope.everything(),
            store.id,
            body,
            cipher=connector.cipher,
            now=connector.clock.now(),
        )
    return store


async def raw_fetch_and_insert(
    database: Database, connector: PosConnector, store: Store, *, since: Any = None
) -> tuple[int, float]:
    """The floor: fetch, map, and bulk-insert the rows into an empty store."""
    began = time.perf_counter()
    adapter = connector.adapter_for(store)
    fetched = await adapter.fetch_products(since=since)
    products: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    for record in fetched.records:
        product = adapter.map_product(record)
        product_id = uuid.uuid4()
        products.append(
            {
                "id": product_id,
                "organization_id": store.organization_id,
                "store_id": store.id,
                "external_id": product.external_id,
                "name": product.name,
                "brand": product.brand,
                "category": product.category.value,
                "content_hash": "",
                "is_active": product.is_active,
            }
        )
        variants.extend(
            {
                "id": uuid.uuid4(),
                "organization_id": store.organization_id,
                "store_id": store.id,
                "product_id": product_id,
                "external_id": v.external_id,
                "label": v.label,
                "price_cents": v.price_cents,
                "quantity_available": v.quantity_available or 0,
            }
            for v in product.variants
        )
    async with database.transaction() as session:
        for start in range(0, len(products), 500):
            await session.execute(insert(Product), products[start : start + 500])
        for start in range(0, len(variants), 500):
            await session.execute(insert(ProductVariant), variants[start : start + 500])
    return len(products), time.perf_counter() - began


async def bench(products: int, dialect: str, database_url: str, rounds: int) -> None:
    settings = Settings(env=Environment.TEST, database_url=database_url, log_format=LogFormat.JSON)
    migrate.upgrade(database_url)
    root, sim, server = start_simulator(products, dialect)
    database = Database(database_url)
    connector = PosConnector(settings, database, SystemClock())
    full_times: list[float] = []
    floor_times: list[float] = []
    try:
        for _ in range(rounds):
            synced = await make_store(database, connector, sim)
            floor = await make_store(database, connector, sim)
            began = time.perf_counter()
            full = await run_sync(
                database,
                connector,
                synced.id,
                SyncKind.FULL,
                SyncTrigger.OPERATOR,
                clock=connector.clock,
            )
            full_times.append(time.perf_counter() - began)
            raw_count, raw_s = await raw_fetch_and_insert(database, connector, floor)
            floor_times.append(raw_s)

        async with httpx.AsyncClient(base_url=root) as control:
            listed = await control.get(f"/_sim/stores/{sim['id']}/products", params={"limit": 10})
            for product in listed.json()["products"]:
                changed = await control.patch(
                    f"/_sim/stores/{sim['id']}/products/{product['id']}",
                    json={"price_cents": product["price_cents"] + 100},
                )
                changed.raise_for_status()
        began = time.perf_counter()
        incremental = await run_sync(
            database,
            connector,
            synced.id,
            SyncKind.INCREMENTAL,
            SyncTrigger.OPERATOR,
            clock=connector.clock,
        )
        incremental_s = time.perf_counter() - began
    finally:
        await connector.aclose()
        await database.dispose()
        server.should_exit = True

    full_s, raw_s = statistics.median(full_times), statistics.median(floor_times)
    ratios = [f / r for f, r in zip(full_times, floor_times, strict=True)]
    print(
        f"dialect={dialect} products={products} database={database_url.split(':')[0]} "
        f"rounds={rounds} (medians)"
    )
    print(f"{'case':<34}{'seconds':>9}{'products/s':>12}{'written':>9}")
    rows = [
        ("full sync (ridgeline)", full_s, full.fetched / full_s, full.created),
        ("raw fetch + bulk insert (floor)", raw_s, raw_count / raw_s, raw_count),
    ]
    for case, seconds, rate, written in rows:
        print(f"{case:<34}{seconds:>9.2f}{rate:>12.0f}{written:>9}")
    print(
        f"{'incremental sync, 10 changes':<34}{incremental_s:>9.2f}{'':>12}{incremental.updated:>9}"
    )
    ratio = statistics.median(ratios)
    print(
        f"full sync / floor: {ratio:.2f}x "
        f"(rounds: {', '.join(f'{ratio:.2f}' for ratio in ratios)}); target <= {TARGET_RATIO:g}x: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT MET'}   "
        f"incremental fetched {incremental.fetched}, updated {incremental.updated}, "
        f"unchanged {incremental.unchanged}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--dialect", default="dutchie")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="PostgreSQL server (admin URL)")
    parser.add_argument("--database", default=None, help="a migrated database URL of your own")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging(Settings(env=Environment.TEST, log_level="WARNING"))
    if args.database:
        asyncio.run(bench(args.products, args.dialect, args.database, args.rounds))
        return
    with scratch_database(args.db, args.pg_url, Path(tempfile.mkdtemp()), bench="sync") as url:
        asyncio.run(bench(args.products, args.dialect, url, args.rounds))


if __name__ == "__main__":
    main()
