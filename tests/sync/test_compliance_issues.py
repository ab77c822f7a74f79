"""A catalog sync for a store with a jurisdiction profile flags the products it takes without
the weight or potency the profile counts: sync issues of their own kind, the product still
taken, the run not partial."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ridgeline.compliance.profiles import PROFILES
from ridgeline.db.engine import Database
from ridgeline.models import Product, ProductVariant, Store, SyncIssue, SyncStatus
from ridgeline.models.sync import SyncIssueKind
from ridgeline.pos.client import PosConnector
from tests.sync.conftest import SyncedStore, sync


async def set_profile(database: Database, store: SyncedStore, key: str | None) -> None:
    async with database.transaction() as session:
        row = await session.get(Store, store.store_id)
        assert row is not None
        row.compliance_profile = key


async def unweighed_limited_products(database: Database, store: SyncedStore) -> set[str]:
    """External ids of the store's products that California's limits count by weight, with a
    variant that has none."""
    limited = [category.value for category in PROFILES["california"].counts]
    async with database.transaction(write=False) as session:
        rows = await session.scalars(
            select(Product.external_id)
            .join(ProductVariant, ProductVariant.product_id == Product.id)
            .where(
                Product.store_id == store.store_id,
                Product.category.in_(limited),
                ProductVariant.weight_grams.is_(None),
            )
        )
        return set(rows)


async def test_products_without_weight_are_flagged_and_still_taken(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(60, "treez")
    await set_profile(database, store, "california")
    run = await sync(database, connector, store)
    assert run.status is SyncStatus.SUCCEEDED
    assert run.invalid == 0
    async with database.transaction(write=False) as session:
        issues = list(
            await session.scalars(select(SyncIssue).where(SyncIssue.sync_run_id == run.id))
        )
    unweighed = await unweighed_limited_products(database, store)
    assert unweighed, "the simulated catalog has no unweighed flower, pre-roll or concentrate"
    assert {issue.external_id for issue in issues} == unweighed
    assert {issue.kind for issue in issues} == {SyncIssueKind.COMPLIANCE_DATA_MISSING}
    assert all("has no weight" in issue.reason for issue in issues)


async def test_a_store_without_a_profile_flags_nothing(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(60, "treez")
    run = await sync(database, connector, store)
    assert await unweighed_limited_products(database, store)
    async with database.transaction(write=False) as session:
        issues = list(
            await session.scalars(select(SyncIssue).where(SyncIssue.sync_run_id == run.id))
        )
    assert issues == []
