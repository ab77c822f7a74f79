"""Fixtures of the order tests: kiosks with a catalog written directly (validation and
idempotency), and stores configured against the POS simulator over real HTTP and synced from it
(submission), with a worker on the test clock."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.jobs import Worker
from ridgeline.models import (
    Kiosk,
    Order,
    Product,
    ProductEnrichment,
    ProductVariant,
    Store,
    StreamMessage,
    SyncKind,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.models.job import Job
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.sync.service import run_sync
from ridgeline.tasks import job_registry, job_services
from tests.factories import Tenant, bearer, make_kiosk, make_tenant
from tests.pos.simulator import SimStore, create_store


@pytest.fixture(scope="module")
def simulator_seed() -> int:
    """The catalog the order tests were written against (`control`: tests/simulated_pos.py)."""
    return 17


@dataclass
class KioskClient:
    """A kiosk and the headers it calls with."""

    kiosk: Kiosk
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key)


@dataclass
class Shop:
    """A tenant (store, first kiosk, admin) whose catalog the test controls."""

    tenant: Tenant
    kiosk: KioskClient

    @property
    def store(self) -> Store:
        return self.tenant.store


async def bare_tenant(database: Database) -> Tenant:
    """A tenant without the order and the placeholder job `make_tenant` adds for the route walk,
    so tests count only the orders and jobs they make."""
    tenant = await make_tenant(database)
    async with database.transaction() as session:
        await session.execute(delete(Order).where(Order.id == tenant.order_id))
        await session.execute(delete(Job).where(Job.id == tenant.job_id))
    return tenant


@pytest.fixture
async def shop(database: Database) -> Shop:
    tenant = await bare_tenant(database)
    return Shop(tenant, KioskClient(tenant.kiosk, tenant.kiosk_key))


async def another_kiosk(database: Database, store: Store, name: str = "Kiosk 2") -> KioskClient:
    kiosk, key, _ = await make_kiosk(database, store, name)
    return KioskClient(kiosk, key)


@dataclass
class Item:
    product_id: uuid.UUID
    variant_id: uuid.UUID
    price_cents: int

    def line(self, quantity: int = 1, **extra: Any) -> dict[str, Any]:
        return {
            "product_id": str(self.product_id),
            "variant_id": str(self.variant_id),
            "quantity": quantity,
            **extra,
        }


async def add_product(
    database: Database,
    store: Store,
    *,
    price_cents: int = 2500,
    quantity: int = 10,
    is_active: bool = True,
    hidden: bool = False,
    medical_only: bool = False,
    name: str = "Blue Dream 3.5g",
    category: str = "flower",
    weight_grams: float | None = None,
    thc: dict[str, Any] | None = None,
) -> Item:
    async with database.transaction() as session:
        product = Product(
            organization_id=store.organization_id,
            store_id=store.id,
            external_id=f"ext-{uuid.uuid4().hex[:10]}",
            name=name,
            category=category,
            thc=thc,
            is_active=is_active,
            is_medical_only=medical_only,
            content_hash="0" * 64,
        )
        session.add(product)
        await session.flush()
        variant = ProductVariant(
            organization_id=store.organization_id,
            store_id=store.id,
            product_id=product.id,
            external_id=f"{product.external_id}-v",
            label="3.5 g",
            weight_grams=weight_grams,
            price_cents=price_cents,
            quantity_available=quantity,
        )
        session.add(variant)
        if hidden:
            session.add(
                ProductEnrichment(
                    product_id=product.id,
                    organization_id=store.organization_id,
                    store_id=store.id,
                    hidden=True,
                )
            )
    return Item(product.id, variant.id, price_cents)


def order_body(*lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"items": list(lines), **fields}


async def place(
    client: httpx.AsyncClient,
    kiosk: KioskClient,
    body: dict[str, Any],
    key: str | None = None,
) -> httpx.Response:
    headers = {**kiosk.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/api/v1/orders", json=body, headers=headers)


async def count(database: Database, model: Any, *where: Any) -> int:
    async with database.transaction(write=False) as session:
        statement = select(func.count()).select_from(model)
        for condition in where:
            statement = statement.where(condition)
        return int(await session.scalar(statement) or 0)


async def stream_payloads(database: Database, stream_id: str) -> list[dict[str, Any]]:
    async with database.transaction(write=False) as session:
        rows = await session.scalars(
            select(StreamMessage)
            .where(StreamMessage.stream_id == stream_id)
            .order_by(StreamMessage.offset)
        )
        return [row.payload for row in rows]


# --- stores at the POS simulator ---------------------------------------------------------


@dataclass
class PosShop(Shop):
    sim: SimStore


async def pos_shop(
    database: Database, connector: PosConnector, control: httpx.Client, dialect: str
) -> PosShop:
    """A tenant whose store is connected to a new simulator store of `dialect`, synced."""
    tenant = await bare_tenant(database)
    sim = create_store(control, dialect, 12)
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
    for kind in (SyncKind.FULL, SyncKind.INVENTORY):
        run = await run_sync(
            database, connector, tenant.store.id, kind, SyncTrigger.OPERATOR, clock=connector.clock
        )
        assert run.status in (SyncStatus.SUCCEEDED, SyncStatus.PARTIALLY_SUCCEEDED), run
    return PosShop(tenant, KioskClient(tenant.kiosk, tenant.kiosk_key), sim)


async def orderable(database: Database, store: Store, quantity: int = 2) -> Item:
    """A synced variant that kiosks may order `quantity` of (active, visible, in stock, not
    medical-only)."""
    async with database.transaction(write=False) as session:
        rows = await session.execute(
            select(Product, ProductVariant)
            .join(ProductVariant, ProductVariant.product_id == Product.id)
            .where(
                Product.store_id == store.id,
                Product.is_active.is_(True),
                Product.is_medical_only.is_(False),
                ProductVariant.quantity_available >= quantity + 2,
            )
            .order_by(Product.external_id, ProductVariant.position)
        )
        row = rows.first()
    assert row is not None, "no orderable product in the catalog"
    product, variant = row
    return Item(product.id, variant.id, variant.price_cents)


@pytest.fixture
def worker(database: Database, connector: PosConnector, clock: FakeClock) -> Worker:
    return Worker(
        database,
        job_registry(),
        clock=clock,
        rng=random.Random(5),
        services=job_services(connector),
        poll_interval_s=0.01,
    )
