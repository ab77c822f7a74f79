"""Every domain's background job handlers and periodic schedules, assembled for the worker.

A domain adds its handlers in its own `tasks.py` (a `JobRegistry`) and lists it here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from ridgeline.config import Settings
from ridgeline.jobs import JobContext, JobRegistry, JobServices, Schedule, purge_succeeded
from ridgeline.models.pos_call import PosCall
from ridgeline.orders.tasks import order_schedules, order_tasks
from ridgeline.pos.client import PosConnector
from ridgeline.realtime import streams
from ridgeline.sync.tasks import POS_CONNECTOR, sync_schedules, sync_tasks
from ridgeline.webhooks.tasks import webhook_tasks

# Succeeded jobs and POS call records are kept this long for operators to look at.
SUCCEEDED_JOB_RETENTION = timedelta(days=7)
POS_CALL_RETENTION = timedelta(days=7)

maintenance = JobRegistry()


@maintenance.handler("jobs.purge_succeeded", timeout_s=300)
async def purge_old_jobs(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.database.transaction() as session:
        await purge_succeeded(session, finished_before=ctx.clock.now() - SUCCEEDED_JOB_RETENTION)


@maintenance.handler("pos.purge_calls", timeout_s=300)
async def purge_old_pos_calls(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.database.transaction() as session:
        await session.execute(
            delete(PosCall).where(PosCall.at < ctx.clock.now() - POS_CALL_RETENTION)
        )


@maintenance.handler("realtime.prune_streams", timeout_s=300)
async def prune_stream_history(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.database.transaction() as session:
        await streams.prune(session, now=ctx.clock.now())


def job_services(connector: PosConnector) -> JobServices:
    """The long-lived objects handlers share: one POS connector per process (its connection
    pool, rate-limit buckets and retry budgets)."""
    services = JobServices()
    services.provide(POS_CONNECTOR, connector)
    return services


def job_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.include(maintenance)
    registry.include(sync_tasks)
    registry.include(order_tasks)
    registry.include(webhook_tasks)
    return registry


def job_schedules(settings: Settings) -> list[Schedule]:
    return [
        Schedule("jobs.purge_succeeded", every_s=3600),
        Schedule("pos.purge_calls", every_s=3600),
        Schedule("realtime.prune_streams", every_s=600),
        *sync_schedules(),
        *order_schedules(settings),
    ]
