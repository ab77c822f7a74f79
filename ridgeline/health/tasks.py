"""Health jobs: `health.sweep` (every 15 s) judges every store again for what time alone
changes (the offline threshold, a window ageing out, a catalog turning stale) and starts the
automatic recovery runs that are due; `health.recover` performs one recovery run."""

from __future__ import annotations

import functools
import uuid

import structlog

from ridgeline.health import recovery, repository
from ridgeline.health import service as health
from ridgeline.health.state import Trigger
from ridgeline.jobs import JobContext, JobPayload, JobRegistry, NoPayload, Schedule
from ridgeline.pos.tasks import job_connector

log = structlog.get_logger(__name__)

SWEEP = "health.sweep"
SWEEP_EVERY_S = 15.0
# A run's steps include a sync and a drain: this covers both at their own limits.
RECOVER_TIMEOUT_S = 2400.0

health_tasks = JobRegistry()


class RecoverPayload(JobPayload):
    store_id: uuid.UUID
    recovery_run_id: uuid.UUID


@health_tasks.handler(SWEEP, timeout_s=300, payload=NoPayload)
async def sweep_store_health(ctx: JobContext, payload: NoPayload) -> None:
    now = ctx.clock.now()
    async with ctx.database.transaction(write=False) as session:
        store_ids = [store.id for store in await repository.stores_without_health(session)]
        store_ids += await repository.health_store_ids(session)
    changed = 0
    for store_id in dict.fromkeys(store_ids):
        # Judged in a read transaction first; a write transaction (one store's, short) only
        # where something changed, so a quiet fleet costs the single writer nothing.
        async with ctx.database.transaction(write=False) as session:
            if not await health.would_change(session, store_id, now=now):
                continue
        if await ctx.database.retrying(
            functools.partial(health.evaluate, store_id=store_id, now=now, trigger=Trigger.SWEEP)
        ):
            changed += 1
    async with ctx.database.transaction(write=False) as session:
        due = await repository.due_recoveries(session, ctx.clock.now())
    started = 0
    for store_id in due:
        if await recovery.start_due_recovery(ctx.database, store_id, clock=ctx.clock):
            started += 1
    if changed or started:
        log.info("store_health_swept", stores=len(store_ids), changed=changed, recoveries=started)


@health_tasks.handler(recovery.RECOVER_JOB, timeout_s=RECOVER_TIMEOUT_S, payload=RecoverPayload)
async def run_recovery_job(ctx: JobContext, payload: RecoverPayload) -> None:
    async with job_connector(ctx) as connector:
        runner = recovery.RecoveryRunner(
            ctx.database,
            connector,
            payload.recovery_run_id,
            clock=ctx.clock,
            rng=connector.rng,
        )
        await runner.run()


def health_schedules() -> list[Schedule]:
    return [Schedule(SWEEP, every_s=SWEEP_EVERY_S)]
