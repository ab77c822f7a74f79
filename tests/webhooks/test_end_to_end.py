"""End to end: the simulator's own pushes (BLAZE registered through us, Treez registered at the
POS, the demo's stores) bring a price change to the catalog."""

from __future__ import annotations

import random
import uuid
from typing import Any

from sqlalchemy import select

from ridgeline.cli.demo import register_webhooks, seed_demo, serving, simulator_stores
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.models import Product, ProductVariant, StreamMessage
from ridgeline.models.pos_event import PosEvent
from ridgeline.realtime.streams import store_stream
from ridgeline.tasks import job_registry, job_services
from tests.assertions import data_of
from tests.factories import sign_in
from tests.net import free_port
from tests.simulated_pos import Harness
from tests.webhooks.conftest import (
    SimulatedStore,
    connected_store,
    count,
    full_sync,
    legacy_webhook_url,
    sync_jobs,
    webhook_runs,
)


async def product_updates(database: Database, store: SimulatedStore) -> list[dict[str, Any]]:
    async with database.transaction(write=False) as session:
        rows = (
            await session.scalars(
                select(StreamMessage)
                .where(StreamMessage.stream_id == store_stream(store.store_id))
                .order_by(StreamMessage.offset)
            )
        ).all()
    return [row.payload for row in rows if row.payload["type"] == "product.updated"]


async def price_change_reaches_the_catalog(
    database: Database, harness: Harness, store: SimulatedStore, clock: FakeClock
) -> None:
    """The store's first sync, then a price change at the POS: the simulator pushes it, the
    worker processes the event: its job reads the POS (incremental and inventory) itself."""
    await full_sync(database, harness, store, clock)
    control = f"/_sim/stores/{store.sim_id}"
    target = (await harness.control.get(f"{control}/products", params={"limit": 1})).json()[
        "products"
    ][0]["id"]
    clock.advance(5)
    response = await harness.control.patch(
        f"{control}/products/{target}", json={"price_cents": 12_345}
    )
    assert response.status_code == 200, response.text
    await harness.sim.simulator.pusher.drain()
    deliveries = (await harness.control.get(f"{control}/deliveries")).json()["deliveries"]
    assert [(d["status"], d["delivered"]) for d in deliveries] == [(200, True)]
    assert await count(database, PosEvent, PosEvent.store_id == store.store_id) == 1

    worker = Worker(
        database,
        job_registry(),
        clock=clock,
        rng=random.Random(6),
        services=job_services(harness.connector),
    )
    # One job: the event's, which reads the POS itself (incremental and inventory).
    assert await worker.run_until_idle() == 1
    async with database.transaction(write=False) as session:
        prices = (
            await session.scalars(
                select(ProductVariant.price_cents)
                .join(Product, Product.id == ProductVariant.product_id)
                .where(Product.store_id == store.store_id, Product.external_id == target)
            )
        ).all()
    assert 12_345 in prices
    updates = [
        u for u in await product_updates(database, store) if u["data"]["external_id"] == target
    ]
    assert len(updates) == 1
    assert 12_345 in [v["price_cents"] for v in updates[0]["data"]["variants"]]
    assert await sync_jobs(database) == []
    assert await webhook_runs(database, store.store_id) == [
        ("incremental", "succeeded"),
        ("inventory", "succeeded"),
    ]
    assert await count(database, PosEvent, PosEvent.processed_at.is_(None)) == 0


async def test_blaze_registered_through_us_pushes_a_price_change_to_the_catalog(
    database: Database, harness: Harness, clock: FakeClock
) -> None:
    store = await connected_store(database, harness, "blaze")
    headers = await sign_in(harness.client, store.tenant.admin)
    path = f"/api/v1/stores/{store.store_id}/pos/webhooks"
    setup = data_of(await harness.client.get(path, headers=headers))
    assert setup["registration"] == "api"
    assert setup["shop_id"] is None
    registered = data_of(await harness.client.post(path, headers=headers))
    assert registered["registered"] is True
    assert registered["shop_id"] == store.summary["shop_id"]
    assert sorted(registered["events"]) == [
        "NEW_CONSUMER_ORDER",
        "UPDATE_CONSUMER_ORDER",
        "UPDATE_PRODUCT",
    ]
    targets = (await harness.control.get(f"/_sim/stores/{store.sim_id}/webhooks")).json()
    assert {t["url"] for t in targets["webhooks"]} == {setup["url"]}
    # The shop is pinned: the GET shows it from now on.
    assert (
        data_of(await harness.client.get(path, headers=headers))["shop_id"]
        == (store.summary["shop_id"])
    )
    await price_change_reaches_the_catalog(database, harness, store, clock)


async def test_treez_registered_at_the_pos_pushes_a_price_change_to_the_catalog(
    database: Database, harness: Harness, clock: FakeClock
) -> None:
    store = await connected_store(database, harness, "treez")
    headers = await sign_in(harness.client, store.tenant.admin)
    path = f"/api/v1/stores/{store.store_id}/pos/webhooks"
    answer = data_of(await harness.client.post(path, headers=headers))
    assert answer["registered"] is False
    assert answer["registration"] == "vendor_portal"
    # Treez registers by hand: the simulator's control API plays the Treez portal.
    response = await harness.control.post(
        f"/_sim/stores/{store.sim_id}/webhooks", json={"url": answer["url"]}
    )
    assert response.status_code == 201, response.text
    await price_change_reaches_the_catalog(database, harness, store, clock)


async def test_the_demo_has_blaze_and_treez_push_to_it(
    settings: Settings, database: Database
) -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    simulator, pos_stores = simulator_stores(root, products=5)
    info = await seed_demo(settings, pos_stores, root)
    async with serving(simulator, "127.0.0.1", port):
        await register_webhooks(settings, info)
    by_provider = {store["pos_provider"]: store for store in info["stores"]}
    assert {name: store.get("webhooks") for name, store in by_provider.items()} == {
        "blaze": "registered",
        "treez": "registered",
        "dutchie": None,
        "flowhub": None,
    }
    targets = {
        store.id: sorted((t.url, sorted(t.events or ["*"])) for t in store.webhooks)
        for store in simulator.simulator.stores.values()
    }
    blaze, treez = by_provider["blaze"], by_provider["treez"]
    blaze_url = legacy_webhook_url(settings, uuid.UUID(blaze["id"]))
    assert targets[blaze["simulator_store_id"]] == [
        (blaze_url, ["NEW_CONSUMER_ORDER"]),
        (blaze_url, ["UPDATE_CONSUMER_ORDER"]),
        (blaze_url, ["UPDATE_PRODUCT"]),
    ]
    assert targets[treez["simulator_store_id"]] == [
        (legacy_webhook_url(settings, uuid.UUID(treez["id"])), ["*"])
    ]
