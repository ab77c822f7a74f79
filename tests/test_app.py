"""The app's lifespan: the embedded worker runs jobs, and kiosk key usage is flushed on shutdown."""

from __future__ import annotations

import asyncio

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from ridgeline.app import create_app
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Job, JobStatus, KioskApiKey
from tests.factories import bearer, make_tenant
from tests.waiting import wait_until


async def _scheduled_job_status(database: Database) -> str | None:
    async with database.transaction(write=False) as session:
        job = await session.scalar(select(Job).where(Job.kind == "jobs.purge_succeeded"))
        return None if job is None else job.status


async def test_embedded_mode_runs_the_worker_inside_the_app(
    settings: Settings, database: Database
) -> None:
    embedded = settings.model_copy(update={"run_worker_in_process": True})
    app = create_app(embedded, database=Database(settings.database_url))
    async with LifespanManager(app):

        async def ran() -> bool:
            return await _scheduled_job_status(database) == JobStatus.SUCCEEDED

        await wait_until(ran)


async def test_without_the_embedded_worker_jobs_wait(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database=Database(settings.database_url))
    async with LifespanManager(app):
        await asyncio.sleep(0.1)
    assert await _scheduled_job_status(database) is None


async def test_kiosk_key_use_is_written_at_shutdown(settings: Settings, database: Database) -> None:
    tenant = await make_tenant(database)
    app = create_app(settings, database=Database(settings.database_url))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/api/v1/kiosks/me", headers=bearer(tenant.kiosk_key))
            assert response.status_code == 200
    async with database.transaction(write=False) as session:
        key = await session.get(KioskApiKey, tenant.kiosk_key_id)
        assert key is not None
        assert key.last_used_at is not None
