"""The write path: without events (a run large enough to end in one `catalog.resync`) it stores
the same rows as the path that builds an event per change, and builds no event; each batch
commits with its events and the run's heartbeat."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import Product, ProductVariant, Store, SyncRun, SyncStatus
from ridgeline.pos.canonical import (
    CanonicalProduct,
    CanonicalVariant,
    Category,
    Potency,
    PotencyUnit,
    StrainType,
)
from ridgeline.pos.client import PosConnector
from ridgeline.sync import service, writes
from ridgeline.sync.mapping import content_hash
from ridgeline.sync.repository import known_products, store_scope
from ridgeline.sync.writes import ProductChange
from tests.factories import make_organization, make_store
from tests.sync.conftest import stream_events, sync

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# Optional fields present and absent in every combination a batch mixes (the ORM's bulk insert
# split such a batch by its pattern of None values; the Core insert must store them the same).
CATALOG = [
    CanonicalProduct(
        external_id="full",
        sku="SKU-1",
        name="Everything Set",
        brand="Brand",
        category=Category.FLOWER,
        vendor_category="Flower",
        strain_type=StrainType.HYBRID,
        thc=Potency(value=21.5, unit=PotencyUnit.PERCENT),
        cbd=Potency(value=0.4, unit=PotencyUnit.PERCENT),
        variants=[
            CanonicalVariant(
                external_id="v1",
                label="3.5g",
                weight_grams=3.5,
                price_cents=2500,
                quantity_available=7,
            ),
            CanonicalVariant(external_id="v2", label="7g", weight_grams=7, price_cents=4500),
        ],
        is_medical_only=True,
        image_urls=["https://img.example/1.jpg"],
        tags=["new", "local"],
        pos_updated_at=NOW,
    ),
    CanonicalProduct(
        external_id="bare",
        name="Nothing Optional",
        category=Category.ACCESSORY,
        variants=[CanonicalVariant(external_id="v3", label="each", price_cents=500)],
    ),
    CanonicalProduct(
        external_id="inactive",
        name="Gone From Menu",
        category=Category.EDIBLE,
        thc=Potency(value=10, unit=PotencyUnit.MG),
        variants=[
            CanonicalVariant(external_id="v4", label="10pk", price_cents=1800, quantity_available=0)
        ],
        is_active=False,
    ),
]


async def stored_catalog(database: Database, store: Store) -> dict[str, Any]:
    """Every column but ids, stores and organizations, by external id."""
    skip = {"id", "store_id", "organization_id", "product_id"}
    async with database.transaction(write=False) as session:
        statement = select(Product).where(Product.store_id == store.id)
        products = (await session.scalars(statement)).all()
        variants = (
            await session.scalars(select(ProductVariant).where(ProductVariant.store_id == store.id))
        ).all()
    external = {product.id: product.external_id for product in products}
    by_product: dict[str, list[dict[str, Any]]] = {}
    for variant in variants:
        columns = {c.key: getattr(variant, c.key) for c in ProductVariant.__table__.columns}
        by_product.setdefault(external[variant.product_id], []).append(
            {k: v for k, v in columns.items() if k not in skip}
        )
    return {
        product.external_id: (
            {
                c.key: getattr(product, c.key)
                for c in Product.__table__.columns
                if c.key not in skip
            },
            sorted(by_product[product.external_id], key=lambda v: v["position"]),
        )
        for product in products
    }


async def write(database: Database, store: Store, *, with_events: bool) -> list[Any]:
    changes = [ProductChange(product, content_hash(product), None) for product in CATALOG]
    async with database.transaction() as session:
        created, updated, events = await writes.write_products(
            session, store_scope(store), store, changes, now=NOW, with_events=with_events
        )
    assert (created, updated) == (len(CATALOG), 0)
    return events


async def test_without_events_the_rows_are_the_same(database: Database) -> None:
    organization = await make_organization(database)
    with_events = await make_store(database, organization, "With events")
    without = await make_store(database, organization, "Without events")

    events = await write(database, with_events, with_events=True)
    assert sorted(kind for kind, _ in events) == [
        "product.created",
        "product.created",
        "product.deactivated",
    ]
    assert await write(database, without, with_events=False) == []

    expected = await stored_catalog(database, with_events)
    assert await stored_catalog(database, without) == expected
    product, variants = expected["bare"]
    assert (product["sku"], product["thc"], product["strain_type"]) == (None, None, None)
    assert product["image_urls"] == product["tags"] == []
    assert variants[0]["inventory_updated_at"] is None
    product, variants = expected["full"]
    assert product["thc"] == {"value": 21.5, "unit": "percent"}
    assert [v["quantity_available"] for v in variants] == [7, 0]


async def test_deactivation_without_events_hides_the_same_way(database: Database) -> None:
    organization = await make_organization(database)
    stores = [await make_store(database, organization, name) for name in ("Events", "Resync")]
    for store in stores:
        await write(database, store, with_events=False)
    later = NOW.replace(hour=13)
    for store, with_events in zip(stores, (True, False), strict=True):
        async with database.transaction() as session:
            known = await known_products(session, store_scope(store), store.id)
            events = await writes.deactivate_products(
                session,
                store_scope(store),
                [known["full"].id, known["bare"].id],
                now=later,
                with_events=with_events,
            )
        assert len(events) == (2 if with_events else 0)
    catalogs = [await stored_catalog(database, store) for store in stores]
    assert catalogs[0] == catalogs[1]
    for external_id in ("full", "bare"):
        product, _ = catalogs[1][external_id]
        assert (product["is_active"], product["synced_at"], product["updated_at"]) == (
            False,
            later,
            later,
        )
    assert catalogs[1]["inactive"][0]["synced_at"] == NOW  # not in the batch: untouched


async def test_each_batch_moves_the_runs_heartbeat_with_its_events(
    database: Database,
    connector: PosConnector,
    new_store: Any,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a reader sees when batch N starts: batch N-1 committed with the heartbeat at its own
    time and its events (the catalog index's version follows the heartbeat)."""
    store = await new_store(30)
    monkeypatch.setattr(service, "BATCH_SIZE", 10)
    real_write = writes.write_products
    batch_times: list[datetime] = []
    seen: list[tuple[datetime, int]] = []

    async def observing(*args: Any, **kwargs: Any) -> Any:
        async with database.transaction(write=False) as other:
            run = (await other.scalars(select(SyncRun))).one()
            seen.append((run.heartbeat_at, len(await stream_events(database, store))))
        batch_times.append(kwargs["now"])
        clock.advance(1)
        return await real_write(*args, **kwargs)

    monkeypatch.setattr(service, "write_products", observing)
    run = await sync(database, connector, store)
    assert run.status is SyncStatus.SUCCEEDED, run.error
    assert len(batch_times) == 3
    assert seen[0] == (run.started_at, 0)
    assert seen[1:] == [(batch_times[0], 10), (batch_times[1], 20)]
    assert len(await stream_events(database, store)) == 30
