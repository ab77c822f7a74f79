"""The sync jobs run by a real Worker: the schedule finds due stores (and stores never synced),
queues one `sync.run` per store and kind, and the handler runs the engine."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import func, select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import JobServices, NoPayload, Worker
from ridgeline.models import (
    Job,
    JobStatus,
    StoreSyncState,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.pos.client import PosConnector
from ridgeline.pos.tasks import POS_CONNECTOR
from ridgeline.sync.tasks import (
    ENQUEUE_DUE,
    enqueue_due_syncs,
    enqueue_sync,
    sync_schedules,
    sync_tasks,
)
from ridgeline.tasks import job_registry, job_schedules
from tests.factories import job_context


def scheduled_worker(database: Database, connector: PosConnector, clock: FakeClock) -> Worker:
    services = JobServices()
    services.provide(POS_CONNECTOR, connector)
    return Worker(
        database,
        sync_tasks,
        clock=clock,
        rng=random.Random(2),
        schedules=sync_schedules(),
        services=services,
    )


async def runs_by_kind(database: Database) -> list[tuple[SyncKind, SyncStatus]]:
    async with database.transaction(write=False) as session:
        rows = (await session.execute(select(SyncRun.kind, SyncRun.status))).all()
    return sorted((row.kind, row.status) for row in rows)


async def test_the_schedule_syncs_new_and_due_stores_once(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(6)
    work = scheduled_worker(database, connector, clock)
    await work.run_until_idle()
    assert await runs_by_kind(database) == [
        (SyncKind.FULL, SyncStatus.SUCCEEDED),
        (SyncKind.INVENTORY, SyncStatus.SUCCEEDED),
    ]
    async with database.transaction(write=False) as session:
        state = await session.get(StoreSyncState, store.store_id)
    assert state is not None
    assert state.last_full_sync_at is not None

    # Same slot, nothing due: nothing new.
    await work.run_until_idle()
    clock.advance(16)
    await work.run_until_idle()
    assert len(await runs_by_kind(database)) == 2

    # Both polls come round every 30 s (the defaults), the catalog's as an incremental.
    clock.advance(30)
    await work.run_until_idle()
    kinds = await runs_by_kind(database)
    assert kinds.count((SyncKind.INVENTORY, SyncStatus.SUCCEEDED)) == 2
    assert (SyncKind.INCREMENTAL, SyncStatus.SUCCEEDED) in kinds


async def test_a_store_never_has_two_waiting_syncs_of_a_kind(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    await new_store(3)
    context = job_context(database, clock, ENQUEUE_DUE)
    for _ in range(3):
        await enqueue_due_syncs(context, NoPayload())
        clock.advance(16)
    async with database.transaction(write=False) as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.kind == "sync.run", Job.status == JobStatus.QUEUED)
        )
    assert waiting == 2  # one full, one inventory


def test_the_worker_knows_the_sync_jobs() -> None:
    assert {"sync.run", "sync.enqueue_due"} <= job_registry().kinds
    assert "sync.enqueue_due" in {schedule.kind for schedule in job_schedules(Settings())}


async def test_without_a_provided_connector_the_handler_builds_one(
    database: Database, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(4)
    async with database.transaction() as session:
        job = await enqueue_sync(
            session, store.store_id, SyncKind.FULL, SyncTrigger.OPERATOR, clock=clock
        )
    assert job is not None
    work = Worker(database, sync_tasks, clock=clock, rng=random.Random(4))
    assert await work.run_until_idle() == 1
    assert await runs_by_kind(database) == [(SyncKind.FULL, SyncStatus.SUCCEEDED)]
