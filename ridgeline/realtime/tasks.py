"""Real-time jobs: `realtime.prune_streams` trims stream history to its retention."""

from __future__ import annotations

from ridgeline.jobs import JobContext, JobRegistry, NoPayload, Schedule
from ridgeline.realtime import streams

PRUNE_STREAMS = "realtime.prune_streams"

realtime_tasks = JobRegistry()


@realtime_tasks.handler(PRUNE_STREAMS, timeout_s=300, payload=NoPayload)
async def prune_stream_history(ctx: JobContext, payload: NoPayload) -> None:
    async with ctx.database.transaction() as session:
        await streams.prune(session, now=ctx.clock.now())


def realtime_schedules() -> list[Schedule]:
    return [Schedule(PRUNE_STREAMS, every_s=600)]
