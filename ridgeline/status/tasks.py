"""Status page job: `status.evaluate` judges every component again, records changes, rolls up
uptime and moves scheduled maintenance along its window (status/service.py)."""

from __future__ import annotations

import structlog

from ridgeline.config import Settings
from ridgeline.jobs import JobContext, JobRegistry, NoPayload, Schedule
from ridgeline.status import service

log = structlog.get_logger(__name__)

EVALUATE = "status.evaluate"

status_tasks = JobRegistry()


@status_tasks.handler(EVALUATE, timeout_s=120, payload=NoPayload)
async def evaluate_status(ctx: JobContext, payload: NoPayload) -> None:
    async with ctx.database.transaction() as session:
        result = await service.evaluate(session, ctx.clock.now())
    if result.changed or result.drafted:
        log.info("status_evaluated", changed=result.changed, drafted=result.drafted)


def status_schedules(settings: Settings) -> list[Schedule]:
    return [Schedule(EVALUATE, every_s=settings.status_evaluate_interval_s)]
