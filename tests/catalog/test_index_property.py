"""The catalog index follows changes in place (`service._advance`): after any sequence of catalog
writes (creates, price and stock changes, deactivation and reactivation, enrichment hide /
feature / sort / tags, deletes, a large sync's batches written without events and its
`catalog.resync`) and orders, with kiosks browsing in between, every page (each sort, several
filters, whole cursor walks) is the page an index built from scratch gives."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from ridgeline.api.pagination import PageRequest
from ridgeline.catalog import enrichment, service
from ridgeline.catalog.listing import CatalogFilters, CatalogIndexCache
from ridgeline.catalog.schemas import CatalogSort, EnrichmentPatch
from ridgeline.catalog.views import kiosk_event_data
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import (
    Product,
    ProductEnrichment,
    ProductVariant,
    Store,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.realtime import streams
from tests.conftest import empty_all_tables
from tests.factories import make_organization, make_store

NAMES = ["Apple", "apple", "Blue Kush", "Kush", "Zed", "Éclair"]
CATEGORIES = ["flower", "vape"]
PRICES = [500, 1500, 1500, 3000]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

FILTERS = [
    CatalogFilters(),
    CatalogFilters(q="kush"),
    CatalogFilters(in_stock=True),
    CatalogFilters(min_price_cents=1000, max_price_cents=2000),
    CatalogFilters(category="flower", strain_type="indica"),
    CatalogFilters(brand="acme"),
]

product_index = st.integers(min_value=0, max_value=50)
operations = st.one_of(
    st.tuples(
        st.just("create"),
        st.sampled_from(NAMES),
        st.sampled_from(PRICES),
        st.integers(min_value=0, max_value=2),
        st.sampled_from(CATEGORIES),
    ),
    st.tuples(st.just("price"), product_index, st.sampled_from(PRICES)),
    st.tuples(st.just("stock"), product_index, st.integers(min_value=0, max_value=2)),
    st.tuples(st.just("deactivate"), product_index),
    st.tuples(st.just("reactivate"), product_index),
    st.tuples(st.just("delete"), product_index),
    st.tuples(
        st.just("enrich"),
        product_index,
        st.fixed_dictionaries(
            {},
            optional={
                "hidden": st.booleans(),
                "featured": st.booleans(),
                "sort_order": st.integers(min_value=-1, max_value=1),
                "tags": st.lists(st.sampled_from(["kush", "Sleep", "staff pick"]), max_size=2),
            },
        ),
    ),
    st.tuples(st.just("order")),
    st.tuples(st.just("silent_batch"), product_index, st.sampled_from(NAMES)),
    st.tuples(st.just("end_run")),
    st.tuples(st.just("browse"), st.sampled_from(list(CatalogSort))),
)


@dataclass
class World:
    database: Database
    store: Store
    scope: TenantScope
    indexes: CatalogIndexCache = field(default_factory=CatalogIndexCache)
    products: list[uuid.UUID] = field(default_factory=list)
    ticks: Iterator[int] = field(default_factory=itertools.count)
    run_id: uuid.UUID | None = None

    def now(self) -> datetime:
        return T0 + timedelta(seconds=next(self.ticks))

    def pick(self, n: int) -> uuid.UUID | None:
        return self.products[n % len(self.products)] if self.products else None


async def _event(world: World, session: Any, event_type: str, product_id: uuid.UUID) -> None:
    """The product's event as a sync appends it: its kiosk view, in the write's transaction."""
    product = await session.get(Product, product_id)
    variants = (
        await session.scalars(select(ProductVariant).where(ProductVariant.product_id == product_id))
    ).all()
    extra = await session.get(ProductEnrichment, product_id)
    await streams.append(
        session,
        streams.store_stream(world.store.id),
        event_type,
        kiosk_event_data(product, variants, extra),
        at=world.now(),
    )


async def apply(world: World, operation: tuple[Any, ...]) -> None:
    kind = operation[0]
    store = world.store
    if kind == "browse":
        return  # a kiosk's request: see `scenario`
    if kind == "create":
        _, name, price, quantity, category = operation
        product_id = uuid.uuid4()
        async with world.database.transaction() as session:
            session.add(
                Product(
                    id=product_id,
                    organization_id=store.organization_id,
                    store_id=store.id,
                    external_id=f"ext-{product_id.hex[:10]}",
                    name=name,
                    brand="Acme" if len(world.products) % 2 else "Other",
                    category=category,
                    strain_type="indica" if len(world.products) % 3 else None,
                    tags=["Sleep"],
                    image_urls=[],
                    is_active=True,
                    content_hash="0" * 64,
                    synced_at=T0,
                    created_at=T0 + timedelta(seconds=len(world.products) % 3),
                )
            )
            await session.flush()
            for position, cents in enumerate((price, price + 100)[: 1 + len(world.products) % 2]):
                session.add(
                    ProductVariant(
                        organization_id=store.organization_id,
                        store_id=store.id,
                        product_id=product_id,
                        external_id=f"v{position}",
                        label=f"{position + 1} g",
                        price_cents=cents,
                        quantity_available=quantity,
                        position=position,
                    )
                )
            await session.flush()
            await _event(world, session, "product.created", product_id)
        world.products.append(product_id)
        return
    if kind == "order":
        async with world.database.transaction() as session:
            await streams.append(
                session,
                streams.store_stream(store.id),
                "order.status",
                {"order_id": str(uuid.uuid4()), "status": "accepted"},
                at=world.now(),
            )
        return
    if kind == "end_run":
        if world.run_id is None:
            return
        async with world.database.transaction() as session:
            await session.execute(
                update(SyncRun)
                .where(SyncRun.id == world.run_id)
                .values(status=SyncStatus.SUCCEEDED, finished_at=world.now())
            )
            await streams.append(
                session,
                streams.store_stream(store.id),
                "catalog.resync",
                {"store_id": str(store.id), "sync_run_id": str(world.run_id)},
                at=world.now(),
            )
        world.run_id = None
        return
    picked = world.pick(operation[1])
    if picked is None:
        return
    product_id = picked
    async with world.database.transaction() as session:
        if kind == "price":
            await session.execute(
                update(ProductVariant)
                .where(ProductVariant.product_id == product_id)
                .values(price_cents=operation[2])
            )
            await _event(world, session, "product.updated", product_id)
        elif kind == "stock":
            variant = (
                await session.scalars(
                    select(ProductVariant).where(ProductVariant.product_id == product_id)
                )
            ).first()
            assert variant is not None
            variant.quantity_available = operation[2]
            await streams.append(
                session,
                streams.store_stream(store.id),
                "inventory.changed",
                {
                    "product_id": str(product_id),
                    "variant_id": str(variant.id),
                    "quantity_available": operation[2],
                },
                at=world.now(),
            )
        elif kind in ("deactivate", "reactivate"):
            await session.execute(
                update(Product)
                .where(Product.id == product_id)
                .values(is_active=kind == "reactivate")
            )
            event = "product.updated" if kind == "reactivate" else "product.deactivated"
            await _event(world, session, event, product_id)
        elif kind == "delete":
            await _event(world, session, "product.deactivated", product_id)
            for model in (ProductVariant, ProductEnrichment):
                await session.execute(delete(model).where(model.product_id == product_id))
            await session.execute(delete(Product).where(Product.id == product_id))
            world.products.remove(product_id)
        elif kind == "enrich":
            # The operators' own code path (it appends its event, or none when the product was
            # and stays invisible).
            await enrichment.update_enrichment(
                session,
                world.scope,
                store.id,
                product_id,
                EnrichmentPatch.model_validate(operation[2]),
                now=world.now(),
            )
        elif kind == "silent_batch":
            # A batch of a sync of more than RESYNC_THRESHOLD changes: no event, the heartbeat.
            now = world.now()
            if world.run_id is None:
                run = SyncRun(
                    organization_id=store.organization_id,
                    store_id=store.id,
                    kind=SyncKind.FULL,
                    trigger=SyncTrigger.SCHEDULE,
                    started_at=now,
                    heartbeat_at=now,
                )
                session.add(run)
                await session.flush()
                world.run_id = run.id
                now = world.now()
            await session.execute(
                update(Product).where(Product.id == product_id).values(name=operation[2])
            )
            await session.execute(
                update(SyncRun).where(SyncRun.id == world.run_id).values(heartbeat_at=now)
            )


async def page(
    world: World,
    indexes: CatalogIndexCache,
    filters: CatalogFilters,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    async with world.database.transaction(write=False) as session:
        status, version = await service.catalog_status(session, world.scope, world.store.id, now=T0)
        result = await service.catalog_page(
            session,
            world.scope,
            world.store.id,
            filters,
            PageRequest(limit=limit, cursor=cursor),
            status=status,
            version=version,
            indexes=indexes,
        )
    return result.model_dump(mode="json")


async def assert_same_pages(world: World, filters: CatalogFilters, *, walk: bool) -> None:
    """The page (or the whole cursor walk) from the world's long-lived index equals the one
    from an index built from scratch."""
    cursor: str | None = None
    for _ in range(60):
        followed = await page(world, world.indexes, filters, cursor, 3)
        scratch = await page(world, CatalogIndexCache(), filters, cursor, 3)
        assert followed == scratch, (filters, cursor)
        cursor = followed["meta"]["next_cursor"]
        if cursor is None or not walk:
            return
    raise AssertionError("the walk did not end")


async def scenario(
    database_url: str, steps: list[tuple[Any, ...]], checks: list[CatalogFilters]
) -> None:
    database = Database(database_url)
    try:
        organization = await make_organization(database)
        store = await make_store(database, organization, "Main St")
        world = World(
            database,
            store,
            TenantScope(organization_id=organization.id, store_ids=frozenset({store.id})),
        )
        for name in NAMES[:3]:
            await apply(world, ("create", name, 1500, 1, "flower"))
        await assert_same_pages(world, CatalogFilters(), walk=False)  # the index exists
        for step in steps:
            await apply(world, step)
            if step[0] == "browse":
                await assert_same_pages(world, CatalogFilters(sort=step[1]), walk=False)
        for filters in checks:
            await assert_same_pages(world, filters, walk=True)
    finally:
        await database.dispose()


def _sorted(filters: CatalogFilters, sort: CatalogSort) -> CatalogFilters:
    return CatalogFilters(**{**{n: getattr(filters, n) for n in filters.__slots__}, "sort": sort})


# Whole cursor walks at the end: every sort unfiltered, and a few filtered ones.
walks = st.lists(
    st.builds(_sorted, st.sampled_from(FILTERS[1:]), st.sampled_from(list(CatalogSort))),
    min_size=1,
    max_size=3,
).map(lambda filtered: [CatalogFilters(sort=sort) for sort in CatalogSort] + filtered)


@pytest.fixture
def emptied(settings: Settings) -> Iterator[str]:
    yield settings.database_url
    database = Database(settings.database_url)

    async def empty() -> None:
        try:
            await empty_all_tables(database)
        finally:
            await database.dispose()

    asyncio.run(empty())


def test_every_page_of_a_followed_index_equals_a_rebuilt_one(emptied: str) -> None:
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(operations, min_size=1, max_size=25), checks=walks)
    def check(steps: list[tuple[Any, ...]], checks: list[CatalogFilters]) -> None:
        asyncio.run(scenario(emptied, steps, checks))

    check()
