"""Every domain's background job handlers and periodic schedules, assembled for the worker.

A domain adds its handlers in its own `tasks.py` (a `JobRegistry`) and lists it here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ridgeline.jobs import JobContext, JobRegistry, Schedule, purge_succeeded

# Succeeded jobs are kept this long for operators to look at, then deleted.
SUCCEEDED_JOB_RETENTION = timedelta(days=7)

maintenance = JobRegistry()


@maintenance.handler("jobs.purge_succeeded", timeout_s=300)
async def purge_old_jobs(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.database.transaction() as session:
        await purge_succeeded(session, finished_before=ctx.clock.now() - SUCCEEDED_JOB_RETENTION)


def job_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.include(maintenance)
    return registry


def job_schedules() -> list[Schedule]:
    return [Schedule("jobs.purge_succeeded", every_s=3600)]
