"""POS jobs: `pos.purge_calls` keeps the POS call log to its retention; and what every job that
calls a POS shares, the process's connector (`job_connector`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from ridgeline.config import Settings
from ridgeline.jobs import JobContext, JobRegistry, NoPayload, Schedule, ServiceKey
from ridgeline.pos import repository
from ridgeline.pos.client import PosConnector

# The worker provides the process's connector (shared pools, rate limits and retry budgets).
POS_CONNECTOR = ServiceKey[PosConnector]("pos_connector")
PURGE_CALLS = "pos.purge_calls"
# POS call records are kept this long for operators to look at.
POS_CALL_RETENTION = timedelta(days=7)

pos_tasks = JobRegistry()


@asynccontextmanager
async def job_connector(ctx: JobContext) -> AsyncIterator[PosConnector]:
    """The process's POS connector, or one of this job's own (from the environment's settings)
    where the worker was given none."""
    if POS_CONNECTOR in ctx.services:
        yield ctx.services.get(POS_CONNECTOR)
        return
    connector = PosConnector(Settings(), ctx.database, ctx.clock)
    try:
        yield connector
    finally:
        await connector.aclose()


@pos_tasks.handler(PURGE_CALLS, timeout_s=300, payload=NoPayload)
async def purge_old_pos_calls(ctx: JobContext, payload: NoPayload) -> None:
    async with ctx.database.transaction() as session:
        await repository.delete_calls_before(session, ctx.clock.now() - POS_CALL_RETENTION)


def pos_schedules() -> list[Schedule]:
    return [Schedule(PURGE_CALLS, every_s=3600)]
