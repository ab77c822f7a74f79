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
    ENQUEUE_DUE_EVERY_S,
    POLL_PRIORITY,
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


async def test_a_poll_due_before_the_next_tick_is_queued_to_run_when_due(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(3)
    await scheduled_worker(database, connector, clock).run_until_idle()  # full and inventory
    async with database.transaction(write=False) as session:
        state = await session.get(StoreSyncState, store.store_id)
    assert state is not None
    due = {state.next_catalog_sync_at, state.next_inventory_sync_at}
    assert len(due) == 1
    due_at = due.pop()
    assert due_at is not None
    context = job_context(database, clock, ENQUEUE_DUE)
    services = JobServices()
    services.provide(POS_CONNECTOR, connector)
    work = Worker(database, sync_tasks, clock=clock, rng=random.Random(3), services=services)

    # Due after the next tick: not queued yet.
    clock.advance((due_at - clock.now()).total_seconds() - ENQUEUE_DUE_EVERY_S - 1)
    await enqueue_due_syncs(context, NoPayload())
    assert await queued_polls(database) == []
    # Due before the next tick: queued now, behind other routine jobs, to run when due.
    clock.advance(3)
    await enqueue_due_syncs(context, NoPayload())
    assert await queued_polls(database) == [
        ("incremental", due_at.replace(tzinfo=None), POLL_PRIORITY),
        ("inventory", due_at.replace(tzinfo=None), POLL_PRIORITY),
    ]
    assert await work.run_until_idle() == 0  # not before it is due
    clock.advance((due_at - clock.now()).total_seconds())
    assert await work.run_until_idle() == 2
    kinds = await runs_by_kind(database)
    assert (SyncKind.INCREMENTAL, SyncStatus.SUCCEEDED) in kinds
    assert kinds.count((SyncKind.INVENTORY, SyncStatus.SUCCEEDED)) == 2

    # An operator's run is not held back behind the polls.
    async with database.transaction() as session:
        job = await enqueue_sync(
            session, store.store_id, SyncKind.FULL, SyncTrigger.OPERATOR, clock=clock
        )
    assert job is not None
    assert job.priority == 0
    assert job.run_at == clock.now()


async def queued_polls(database: Database) -> list[tuple[str, Any, int]]:
    async with database.transaction(write=False) as session:
        jobs = (
            await session.scalars(
                select(Job).where(Job.kind == "sync.run", Job.status == JobStatus.QUEUED)
            )
        ).all()
    return sorted(
        (job.payload["kind"], job.run_at.replace(tzinfo=None), job.priority) for job in jobs
    )
