"""The hourly purge of `ridgeline doctor`'s diagnostic keys: those spent (revoked or expired)
for more than a day go, in every organization, in batches; kiosks' own keys never do, spent or
not, and neither does a diagnostic key spent less than a day ago or still valid."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from ridgeline.auth import tasks as auth_tasks_module
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.auth.tasks import PURGE_DIAGNOSTIC_KEYS, auth_schedules, auth_tasks
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import JobRegistry, Worker, enqueue
from ridgeline.models import KioskApiKey
from ridgeline.models.kiosk import KioskKeyPurpose
from ridgeline.tasks import job_registry, job_schedules
from tests.factories import Tenant, make_tenant


async def add_key(
    database: Database,
    tenant: Tenant,
    clock: FakeClock,
    purpose: KioskKeyPurpose,
    *,
    revoked_hours_ago: float | None = None,
    expired_hours_ago: float | None = None,
) -> uuid.UUID:
    now = clock.now()
    token = new_kiosk_key()
    key = KioskApiKey(
        organization_id=tenant.organization.id,
        kiosk_id=tenant.kiosk.id,
        key_hash=digest(token),
        key_prefix=display_prefix(token),
        created_at=now - timedelta(days=3),
        purpose=purpose,
        revoked_at=None if revoked_hours_ago is None else now - timedelta(hours=revoked_hours_ago),
        expires_at=None if expired_hours_ago is None else now - timedelta(hours=expired_hours_ago),
    )
    async with database.transaction() as session:
        session.add(key)
    return key.id


async def remaining_keys(database: Database) -> set[uuid.UUID]:
    async with database.transaction(write=False) as session:
        return set((await session.scalars(select(KioskApiKey.id))).all())


def test_the_purge_is_registered_and_scheduled_hourly(settings: Settings) -> None:
    assert PURGE_DIAGNOSTIC_KEYS in job_registry().kinds
    [schedule] = auth_schedules()
    assert (schedule.kind, schedule.every_s) == (PURGE_DIAGNOSTIC_KEYS, 3600)
    assert schedule in job_schedules(settings)


async def test_spent_diagnostic_keys_go_a_day_after_in_every_organization(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_tasks_module, "PURGE_BATCH", 2)  # four to delete: three batches
    first, second = await make_tenant(database), await make_tenant(database)
    diagnostic = KioskKeyPurpose.DIAGNOSTIC
    gone = {
        await add_key(database, first, clock, diagnostic, revoked_hours_ago=25),
        await add_key(database, first, clock, diagnostic, expired_hours_ago=48),
        await add_key(
            database, first, clock, diagnostic, revoked_hours_ago=30, expired_hours_ago=1
        ),
        await add_key(database, second, clock, diagnostic, revoked_hours_ago=72),
    }
    before = await remaining_keys(database)
    kept = {
        first.kiosk_key_id,
        second.kiosk_key_id,
        await add_key(database, first, clock, KioskKeyPurpose.KIOSK, revoked_hours_ago=500),
        await add_key(database, first, clock, KioskKeyPurpose.KIOSK, expired_hours_ago=500),
        await add_key(database, first, clock, diagnostic, revoked_hours_ago=23),
        await add_key(database, second, clock, diagnostic, expired_hours_ago=2),
        await add_key(database, second, clock, diagnostic, expired_hours_ago=-0.01),  # valid
    }
    assert gone <= before

    async with database.transaction() as session:
        await enqueue(session, PURGE_DIAGNOSTIC_KEYS, clock=clock)
    registry = JobRegistry()
    registry.include(auth_tasks)
    await Worker(database, registry, clock=clock, rng=random.Random(1)).run_until_idle()

    assert await remaining_keys(database) == kept
