"""Kiosk keys' upkeep: `auth.purge_diagnostic_keys` deletes the keys `ridgeline doctor` issued
once they have been spent (revoked or expired) for a day. A doctor run every minute issues 1,440
a day; spent, they authenticate nothing and are listed nowhere (auth/kiosk_keys.py), and a
day's worth stays for whoever looks at the table after an incident."""

from __future__ import annotations

from datetime import timedelta

from ridgeline.auth import repository
from ridgeline.jobs import JobContext, JobRegistry, NoPayload, Schedule

PURGE_DIAGNOSTIC_KEYS = "auth.purge_diagnostic_keys"
SPENT_DIAGNOSTIC_KEY_RETENTION = timedelta(days=1)
PURGE_BATCH = 1000
# A purge deletes at most this many batches; the next hour's run takes the rest.
MAX_BATCHES = 100

auth_tasks = JobRegistry()


@auth_tasks.handler(PURGE_DIAGNOSTIC_KEYS, timeout_s=300, payload=NoPayload)
async def purge_diagnostic_keys(ctx: JobContext, payload: NoPayload) -> None:
    """One transaction per batch, so that a backlog never holds locks for long."""
    spent_before = ctx.clock.now() - SPENT_DIAGNOSTIC_KEY_RETENTION
    for _ in range(MAX_BATCHES):
        async with ctx.database.transaction() as session:
            deleted = await repository.delete_spent_diagnostic_keys(
                session, spent_before, limit=PURGE_BATCH
            )
        if deleted < PURGE_BATCH:
            return


def auth_schedules() -> list[Schedule]:
    return [Schedule(PURGE_DIAGNOSTIC_KEYS, every_s=3600)]
