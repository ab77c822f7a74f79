"""A store connected to the in-process POS simulator (the `harness`), synced, with a kiosk and
its org admin signed in: what the health tests drive into each state through the simulator's
fault API."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.models import Order, SyncKind
from ridgeline.models.order import OrderStatus
from ridgeline.models.sync import SyncRun, SyncTrigger
from ridgeline.sync.service import run_sync
from ridgeline.tasks import job_registry, job_schedules, job_services
from tests.assertions import data_of
from tests.factories import bearer, make_kiosk, sign_in
from tests.orders.conftest import Item, orderable
from tests.simulated_pos import Harness
from tests.webhooks.conftest import configure


@dataclass
class HealthStore:
    harness: Harness
    database: Database
    clock: FakeClock
    store_id: uuid.UUID
    sim_id: str
    summary: dict[str, Any]
    operator: dict[str, str]
    kiosk: dict[str, str]
    item: Item
    worker: Worker  # every job handler and every schedule, as a server runs them
    organization_id: uuid.UUID

    @property
    def client(self) -> Any:
        return self.harness.client

    async def health(self) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/stores/{self.store_id}/health", headers=self.operator
        )
        result: dict[str, Any] = data_of(response)
        return result

    async def state(self) -> tuple[str, str]:
        health = await self.health()
        return health["state"], health["cause"]

    async def fault(self, endpoint: str, kind: str, **options: Any) -> None:
        response = await self.harness.control.post(
            f"/_sim/stores/{self.sim_id}/faults",
            json={"endpoint": endpoint, "kind": kind, **options},
        )
        assert response.status_code in (200, 201), response.text

    async def clear_faults(self) -> None:
        response = await self.harness.control.delete(f"/_sim/stores/{self.sim_id}/faults")
        assert response.status_code in (200, 204), response.text

    async def pos_requests(self) -> int:
        """Every request the simulated POS received for this store, ever."""
        response = await self.harness.control.get(f"/_sim/stores/{self.sim_id}/requests")
        assert response.status_code == 200, response.text
        return sum(response.json()["totals"].values())

    async def at_pos(self, order: dict[str, Any]) -> int:
        """How many POS orders carry this order's reference."""
        return sum(1 for each in await self.pos_orders() if each["reference"] == order["reference"])

    async def pos_orders(self) -> list[dict[str, Any]]:
        response = await self.harness.control.get(f"/_sim/stores/{self.sim_id}/orders")
        assert response.status_code == 200, response.text
        orders: list[dict[str, Any]] = response.json()["orders"]
        return orders

    async def sync(self, kind: SyncKind = SyncKind.INVENTORY) -> SyncRun:
        return await run_sync(
            self.database,
            self.harness.connector,
            self.store_id,
            kind,
            SyncTrigger.OPERATOR,
            clock=self.clock,
        )

    async def place_order(self) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/orders",
            json={"items": [self.item.line(1)]},
            headers={**self.kiosk, "Idempotency-Key": uuid.uuid4().hex},
        )
        order: dict[str, Any] = data_of(response, 201)
        return order

    async def browse(self) -> dict[str, Any]:
        """The kiosk's first catalog page: it must always answer."""
        response = await self.client.get("/api/v1/catalog", headers=self.kiosk)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert page["data"], "the kiosk lost its catalog"
        return page

    async def orders_in(self, *statuses: OrderStatus) -> int:
        async with self.database.transaction(write=False) as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Order)
                .where(Order.store_id == self.store_id, Order.status.in_(statuses))
            )
        return int(count or 0)

    async def settle(self, rounds: int = 3, step_s: float = 20.0) -> None:
        """Lets time pass and the worker do what is due (sweeps, recovery runs, drains)."""
        for _ in range(rounds):
            self.clock.advance(step_s)
            await self.worker.run_until_idle()


@pytest.fixture
def harness_seed() -> int:
    return 23


async def health_store(
    database: Database,
    harness: Harness,
    clock: FakeClock,
    settings: Settings,
    dialect: str = "dutchie",
) -> HealthStore:
    response = await harness.control.post("/_sim/stores", json={"dialect": dialect, "products": 8})
    assert response.status_code == 201, response.text
    summary = response.json()
    tenant = await configure(database, harness.app, dialect, summary["config"])
    for kind in (SyncKind.FULL, SyncKind.INVENTORY):
        run = await run_sync(
            database, harness.connector, tenant.store.id, kind, SyncTrigger.OPERATOR, clock=clock
        )
        assert run.error is None, run.error
    _, key, _ = await make_kiosk(database, tenant.store)
    operator = await sign_in(harness.client, tenant.admin)
    item = await orderable(database, tenant.store)
    return HealthStore(
        harness=harness,
        database=database,
        clock=clock,
        store_id=tenant.store.id,
        sim_id=summary["id"],
        summary=summary,
        operator=operator,
        kiosk=bearer(key),
        item=item,
        worker=Worker(
            database,
            job_registry(),
            clock=clock,
            rng=random.Random(8),
            services=job_services(harness.connector),
            poll_interval_s=0.01,
            schedules=job_schedules(settings),
        ),
        organization_id=tenant.organization.id,
    )
