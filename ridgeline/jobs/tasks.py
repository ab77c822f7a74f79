"""The job table's own upkeep: `jobs.purge_succeeded` deletes succeeded jobs past retention."""

from __future__ import annotations

from datetime import timedelta

from ridgeline.jobs.registry import JobContext, JobRegistry, NoPayload
from ridgeline.jobs.schedule import Schedule
from ridgeline.jobs.service import purge_succeeded

PURGE_SUCCEEDED = "jobs.purge_succeeded"
# Succeeded jobs are kept this long for operators to look at.
SUCCEEDED_JOB_RETENTION = timedelta(days=7)

job_tasks = JobRegistry()


@job_tasks.handler(PURGE_SUCCEEDED, timeout_s=300, payload=NoPayload)
async def purge_old_jobs(ctx: JobContext, payload: NoPayload) -> None:
    async with ctx.database.transaction() as session:
        await purge_succeeded(session, finished_before=ctx.clock.now() - SUCCEEDED_JOB_RETENTION)


def job_schedules() -> list[Schedule]:
    return [Schedule(PURGE_SUCCEEDED, every_s=3600)]
