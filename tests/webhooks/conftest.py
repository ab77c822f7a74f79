"""Shared by the webhook tests: stores configured for a POS, our webhook URL, event bodies, a
worker that runs the events' jobs, and the sync runs they did."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from ridgeline.app import app_services
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.jobs import JobContext, JobRegistry, Worker
from ridgeline.models import Job, SyncKind, SyncRun, SyncTrigger
from ridgeline.pos import service as pos_service
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.sync.repository import SYNC_JOB
from ridgeline.sync.service import run_sync
from ridgeline.webhooks.service import PROCESS_EVENT_JOB, WEBHOOK_PATH, webhook_token
from ridgeline.webhooks.tasks import webhook_tasks
from tests import factories
from tests.simulated_pos import Harness
from tests.sync.conftest import SyncTenant, make_sync_tenant

UNREACHABLE = "http://127.0.0.1:9"
CONFIGS: dict[str, dict[str, Any]] = {
    "blaze": {"base_url": UNREACHABLE, "partner_key": "p", "api_key": "k", "shop_id": "shop-1"},
    "treez": {},  # configured from the simulator where needed
    "flowhub": {
        "base_url": UNREACHABLE,
        "client_id": "c",
        "api_key": "k",
        "location_id": "loc-1",
        "oauth_client_id": "o",
        "oauth_client_secret": "s",
        "audience": "https://api.flowhub.co",
    },
    "dutchie": {"base_url": UNREACHABLE, "api_key": "k", "consumer_key": "c"},
}


async def configure(
    database: Database, app: FastAPI, provider: str, config: dict[str, Any] | None = None
) -> SyncTenant:
    tenant = await make_sync_tenant(database)
    body = StorePosUpdate(provider=provider, config=config or CONFIGS[provider])
    async with database.transaction() as session:
        await pos_service.configure(
            session,
            TenantScope.everything(),
            tenant.store.id,
            body,
            cipher=app_services(app).pos_connector.cipher,
            now=datetime.now(UTC),
        )
    return tenant


@dataclass
class SimulatedStore:
    tenant: SyncTenant
    sim_id: str
    summary: dict[str, Any]

    @property
    def store_id(self) -> uuid.UUID:
        return self.tenant.store.id


async def connected_store(database: Database, harness: Harness, dialect: str) -> SimulatedStore:
    response = await harness.control.post("/_sim/stores", json={"dialect": dialect, "products": 6})
    assert response.status_code == 201, response.text
    summary = response.json()
    tenant = await configure(database, harness.app, dialect, summary["config"])
    return SimulatedStore(tenant, summary["id"], summary)


async def full_sync(
    database: Database, harness: Harness, store: SimulatedStore, clock: FakeClock
) -> None:
    """An operator's full sync of the store from the simulator."""
    await run_sync(
        database,
        harness.connector,
        store.store_id,
        SyncKind.FULL,
        SyncTrigger.OPERATOR,
        clock=clock,
    )


def hook(settings: Settings, store_id: uuid.UUID, token: str | None = None) -> str:
    token = webhook_token(settings.secret_key, store_id) if token is None else token
    return f"/api/v1/pos-webhooks/{store_id}?token={token}"


def legacy_webhook_url(settings: Settings, store_id: uuid.UUID) -> str:
    """The URL of a store whose webhook token was never rotated: its token derived from
    RIDGELINE_SECRET_KEY."""
    token = webhook_token(settings.secret_key, store_id)
    return f"{settings.public_base_url}{WEBHOOK_PATH}/{store_id}?token={token}"


def blaze_event(event_id: str = "evt-1", **changes: Any) -> dict[str, Any]:
    return {
        "webHookType": "UPDATE_PRODUCT",
        "shopId": "shop-1",
        "eventId": event_id,
        "data": {"id": "p-1", "name": "House Flower"},
        **changes,
    }


async def count(database: Database, model: Any, *where: Any) -> int:
    async with database.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def sync_jobs(database: Database) -> list[dict[str, Any]]:
    async with database.transaction(write=False) as session:
        jobs = (await session.scalars(select(Job).where(Job.kind == SYNC_JOB))).all()
    return [job.payload for job in jobs]


async def webhook_runs(
    database: Database, store_id: uuid.UUID | None = None
) -> list[tuple[str, str]]:
    """(kind, status) of the sync runs pushed events did, sorted."""
    statement = select(SyncRun.kind, SyncRun.status).where(SyncRun.trigger == "webhook")
    if store_id is not None:
        statement = statement.where(SyncRun.store_id == store_id)
    async with database.transaction(write=False) as session:
        rows = (await session.execute(statement)).all()
    return sorted((row.kind.value, row.status.value) for row in rows)


def webhook_worker(database: Database, clock: FakeClock) -> Worker:
    """Runs the events' jobs, one at a time, oldest first; their reads of these stores' POS
    (not reachable) fail at once, and are recorded as failed runs."""
    registry = JobRegistry()
    registry.include(webhook_tasks)
    return Worker(database, registry, clock=clock, rng=random.Random(4), concurrency=1)


def job_context(database: Database, clock: FakeClock) -> JobContext:
    return factories.job_context(database, clock, PROCESS_EVENT_JOB, max_attempts=5)
