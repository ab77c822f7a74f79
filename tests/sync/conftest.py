"""Fixtures of the sync tests: stores configured against the POS simulator over real HTTP (the
simulator, `control`, and the `connector` on the test clock are shared: tests/simulated_pos.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ridgeline.catalog.service import CATALOG_EVENT_TYPES
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import (
    Operator,
    Organization,
    Product,
    ProductVariant,
    Role,
    Store,
    StreamMessage,
    SyncKind,
    SyncRun,
    SyncTrigger,
)
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.sync.service import run_sync
from tests.factories import make_operator, make_organization, make_store
from tests.pos.simulator import SimStore, create_store


@dataclass
class SyncTenant:
    """An organization with one store (and no catalog yet) and its admin."""

    organization: Organization
    store: Store
    admin: Operator


async def make_sync_tenant(database: Database) -> SyncTenant:
    organization = await make_organization(database)
    store = await make_store(database, organization)
    admin = await make_operator(database, Role.ORG_ADMIN, organization)
    return SyncTenant(organization, store, admin)


@dataclass
class SyncedStore:
    tenant: SyncTenant
    sim: SimStore

    @property
    def store_id(self) -> uuid.UUID:
        return self.tenant.store.id


async def configure_store(
    database: Database, connector: PosConnector, sim: SimStore, tenant: SyncTenant | None = None
) -> SyncedStore:
    tenant = tenant or await make_sync_tenant(database)
    body = StorePosUpdate(
        provider=sim.dialect, config={**sim.config, "timeout_s": 2, "connect_timeout_s": 1}
    )
    async with database.transaction() as session:
        await pos_service.configure(
            session,
            TenantScope.everything(),
            tenant.store.id,
            body,
            cipher=connector.cipher,
            now=connector.clock.now(),
        )
    return SyncedStore(tenant, sim)


@pytest.fixture
def new_store(database: Database, connector: PosConnector, control: httpx.Client) -> Any:
    async def make(products: int = 20, dialect: str = "dutchie") -> SyncedStore:
        return await configure_store(database, connector, create_store(control, dialect, products))

    return make


async def sync(
    database: Database,
    connector: PosConnector,
    store: SyncedStore,
    kind: SyncKind = SyncKind.FULL,
    clock: FakeClock | None = None,
) -> SyncRun:
    return await run_sync(
        database,
        connector,
        store.store_id,
        kind,
        SyncTrigger.OPERATOR,
        clock=clock or connector.clock,
    )


async def catalog_of(database: Database, store: SyncedStore) -> dict[str, Any]:
    """The store's catalog in comparable form: external id -> fields and variants."""
    async with database.transaction(write=False) as session:
        products = (
            await session.scalars(select(Product).where(Product.store_id == store.store_id))
        ).all()
        variants = (
            await session.scalars(
                select(ProductVariant).where(ProductVariant.store_id == store.store_id)
            )
        ).all()
    by_product: dict[Any, list[tuple[Any, ...]]] = {}
    for variant in variants:
        by_product.setdefault(variant.product_id, []).append(
            (variant.external_id, variant.label, variant.price_cents, variant.quantity_available)
        )
    return {
        product.external_id: (
            product.name,
            product.brand,
            product.category,
            product.is_active,
            product.content_hash,
            sorted(by_product.get(product.id, [])),
        )
        for product in products
    }


async def stream_events(database: Database, store: SyncedStore) -> list[dict[str, Any]]:
    """The catalog events on the store's stream, oldest first (`store.status` and order events
    are not the sync's)."""
    async with database.transaction(write=False) as session:
        rows = (
            await session.scalars(
                select(StreamMessage)
                .where(StreamMessage.stream_id == f"store:{store.store_id}")
                .order_by(StreamMessage.offset)
            )
        ).all()
    return [row.payload for row in rows if row.payload["type"] in CATALOG_EVENT_TYPES]


async def count_rows(database: Database, model: Any, store: SyncedStore) -> int:
    async with database.transaction(write=False) as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(model).where(model.store_id == store.store_id)
            )
            or 0
        )
