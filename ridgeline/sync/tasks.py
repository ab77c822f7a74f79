"""Sync jobs: `sync.run` runs one sync; the `sync.enqueue_due` schedule queues the due ones.

A store's next catalog and inventory syncs are times on its `StoreSyncState`, moved by each run
(the interval after a success, an exponential backoff after a failure). The schedule ticks every
5 s and queues `sync.run` for every store and kind due before its next tick, to run at the due
time (a worker claims it within its poll interval of that time, rather than at the next tick),
at most one waiting per store and kind, holding back a poll that would take the stores sharing a
vendor's rate limits past their part of it (polling.py). Scheduled polls queue behind pushed
events and operators' runs (`POLL_PRIORITY`). With the default 30 s intervals a POS change
reaches kiosks within about 33 s.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.errors import NotFound, SyncInProgress
from ridgeline.jobs import JobContext, JobPayload, JobRegistry, NoPayload, RetryLater, Schedule
from ridgeline.jobs import enqueue as enqueue_job
from ridgeline.models.job import Job
from ridgeline.models.sync import StoreSyncState, SyncKind, SyncTrigger
from ridgeline.pos.registry import adapter_class
from ridgeline.pos.tasks import job_connector
from ridgeline.sync import repository
from ridgeline.sync.polling import budgeted_due_at
from ridgeline.sync.repository import SYNC_JOB, PollPeers, sync_dedupe_prefix
from ridgeline.sync.service import run_sync

log = structlog.get_logger(__name__)

ENQUEUE_DUE = "sync.enqueue_due"
# How often the schedule looks for due polls; each look queues those due before the next one,
# to run at their due time, so the tick adds nothing to how fresh a kiosk's catalog is.
ENQUEUE_DUE_EVERY_S = 5.0
# Scheduled polls come after other routine jobs (pushed events, operators' runs) when the
# worker's slots are short: they are the safety net, and run every 30 s anyway.
POLL_PRIORITY = 10
# Scheduled catalog syncs are incremental, with a full sync at least this often (to see deletes).
FULL_SYNC_EVERY = timedelta(hours=24)
SYNC_RUN_TIMEOUT_S = 1800.0
# A store polls about four times a minute: the runs that changed nothing are kept this long (for
# the run history and its "is it polling?" question), the others as long as the database keeps them.
PURGE_IDLE_RUNS = "sync.purge_idle_runs"
IDLE_RUN_RETENTION = timedelta(days=1)
# An operator's run that finds another of its kind running waits this long and tries again.
BUSY_RETRY_S = 30.0

sync_tasks = JobRegistry()


class SyncJobPayload(JobPayload):
    store_id: uuid.UUID
    kind: SyncKind
    trigger: SyncTrigger = SyncTrigger.SCHEDULE


async def enqueue_sync(
    session: AsyncSession,
    store_id: uuid.UUID,
    kind: SyncKind,
    trigger: SyncTrigger,
    *,
    clock: Clock,
    due_at: datetime | None = None,
    run_at: datetime | None = None,
) -> Job | None:
    """Queues `sync.run` in the caller's transaction unless one of this store and kind waits.

    The dedupe key carries the due time (schedule), so the schedule ticking again for the same
    due time inserts nothing; the key's prefix names the store and kind for the waiting check.
    A scheduled run waits for `run_at` (its due time, when that is still ahead) and comes after
    other routine jobs (`POLL_PRIORITY`).
    """
    if await repository.sync_job_waiting(session, store_id, kind):
        return None
    # Each request of an operator is its own job; a schedule's due time is queued once.
    stamp = due_at.isoformat() if due_at is not None else uuid.uuid4().hex
    payload = {"store_id": str(store_id), "kind": kind.value, "trigger": trigger.value}
    return await enqueue_job(
        session,
        SYNC_JOB,
        payload,
        clock=clock,
        run_at=run_at,
        priority=POLL_PRIORITY if trigger is SyncTrigger.SCHEDULE else 0,
        dedupe_key=f"{sync_dedupe_prefix(store_id, kind)}{trigger.value}@{stamp}",
        max_attempts=3,
    )


@sync_tasks.handler(SYNC_JOB, timeout_s=SYNC_RUN_TIMEOUT_S, payload=SyncJobPayload)
async def run_sync_job(ctx: JobContext, payload: SyncJobPayload) -> None:
    job = payload
    async with job_connector(ctx) as connector:
        try:
            # A failed run (POS down, ...) is recorded and rescheduled by the engine itself: the
            # job succeeds, so the queue's retries do not add to the store's backoff.
            await run_sync(
                ctx.database, connector, job.store_id, job.kind, job.trigger, clock=ctx.clock
            )
        except NotFound:
            log.info("sync_job_store_gone", store_id=str(job.store_id))
        except SyncInProgress:
            if job.trigger is SyncTrigger.SCHEDULE:
                log.info("sync_job_skipped", store_id=str(job.store_id), kind=job.kind.value)
                return
            raise RetryLater(BUSY_RETRY_S, "a sync of this kind is running") from None


@sync_tasks.handler(ENQUEUE_DUE, timeout_s=120, payload=NoPayload)
async def enqueue_due_syncs(ctx: JobContext, payload: NoPayload) -> None:
    now = ctx.clock.now()
    # Due before the next tick: queued now, to run at the due time.
    horizon = now + timedelta(seconds=ENQUEUE_DUE_EVERY_S)
    queued = 0
    async with ctx.database.transaction() as session:
        for store in await repository.stores_without_state(session):
            await repository.ensure_sync_state(session, store, due_at=now)
        states = await repository.due_states(session, horizon)
        peers = await repository.poll_peers(session, (state.store_id for state in states))
        for state in states:
            for kind, due_at, run_at in _due_kinds(state, horizon, peers.get(state.store_id)):
                if await enqueue_sync(
                    session,
                    state.store_id,
                    kind,
                    SyncTrigger.SCHEDULE,
                    clock=ctx.clock,
                    due_at=due_at,
                    run_at=run_at if run_at > now else None,
                ):
                    queued += 1
    if queued:
        log.info("sync_runs_enqueued", count=queued)


def _due_kinds(
    state: StoreSyncState, until: datetime, peers: PollPeers | None = None
) -> list[tuple[SyncKind, datetime, datetime]]:
    """The kinds of sync due by `until`, each with its scheduled time (the job's dedupe stamp)
    and the time it may run (later when the shared rate limits need it)."""
    due: list[tuple[SyncKind, datetime, datetime]] = []
    if state.next_catalog_sync_at is not None:
        needs_full = (
            state.catalog_cursor is None
            or state.last_full_sync_at is None
            or until - state.last_full_sync_at >= FULL_SYNC_EVERY
        )
        kind = SyncKind.FULL if needs_full else SyncKind.INCREMENTAL
        catalog_due = _budgeted(state.next_catalog_sync_at, state.catalog_interval_s, kind, peers)
        if catalog_due <= until:
            due.append((kind, state.next_catalog_sync_at, catalog_due))
    if state.next_inventory_sync_at is not None:
        inventory_due = _budgeted(
            state.next_inventory_sync_at, state.inventory_interval_s, SyncKind.INVENTORY, peers
        )
        if inventory_due <= until:
            due.append((SyncKind.INVENTORY, state.next_inventory_sync_at, inventory_due))
    return due


def _budgeted(
    due_at: datetime, interval_s: int, kind: SyncKind, peers: PollPeers | None
) -> datetime:
    """`due_at`, or later when the vendor's shared rate limits need more room (polling.py)."""
    adapter = adapter_class(peers.provider) if peers is not None else None
    if adapter is None or peers is None:
        return due_at
    return budgeted_due_at(due_at, interval_s, adapter.rate_limits, kind, peers.retailer_stores)


@sync_tasks.handler(PURGE_IDLE_RUNS, timeout_s=300, payload=NoPayload)
async def purge_idle_runs(ctx: JobContext, payload: NoPayload) -> None:
    async with ctx.database.transaction() as session:
        deleted = await repository.delete_idle_runs(
            session, finished_before=ctx.clock.now() - IDLE_RUN_RETENTION
        )
    if deleted:
        log.info("sync_idle_runs_purged", count=deleted)


def sync_schedules() -> list[Schedule]:
    return [
        Schedule(ENQUEUE_DUE, every_s=ENQUEUE_DUE_EVERY_S),
        Schedule(PURGE_IDLE_RUNS, every_s=3600),
    ]
