"""The audit trail's upkeep: `audit.purge_events` deletes events past their retention."""

from __future__ import annotations

from pydantic import Field

from ridgeline.audit import service
from ridgeline.config import Settings
from ridgeline.jobs import JobContext, JobPayload, JobRegistry, Schedule

PURGE_EVENTS = "audit.purge_events"
# A purge deletes at most this many batches; the next hour's run takes the rest.
MAX_BATCHES = 100

audit_tasks = JobRegistry()


class PurgeEvents(JobPayload):
    retention_days: int = Field(ge=1)


@audit_tasks.handler(PURGE_EVENTS, timeout_s=300, payload=PurgeEvents)
async def purge_old_events(ctx: JobContext, payload: PurgeEvents) -> None:
    """One transaction per batch, so that a large backlog never holds locks for long."""
    before = service.retention_cutoff(ctx.clock.now(), payload.retention_days)
    for _ in range(MAX_BATCHES):
        async with ctx.database.transaction() as session:
            if await service.purge_events(session, before) < service.PURGE_BATCH:
                return


def audit_schedules(settings: Settings) -> list[Schedule]:
    return [
        Schedule(
            PURGE_EVENTS,
            every_s=3600,
            payload={"retention_days": settings.audit_retention_days},
        )
    ]
