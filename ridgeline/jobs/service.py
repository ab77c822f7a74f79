"""What operators may do with jobs: look at them, retry dead ones, purge old successes.

Plain functions on the caller's session (they never commit), for the HTTP endpoints and the CLI.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, PageResult, paginate
from ridgeline.clock import Clock
from ridgeline.errors import Conflict, NotFound
from ridgeline.jobs import repository
from ridgeline.jobs.schemas import JobQueueSummary
from ridgeline.models.job import Job, JobStatus

# More than other lists' 200: the console grows one page to this rather than following cursors.
MAX_LIST_LIMIT = 500


async def list_jobs(
    session: AsyncSession,
    page: PageRequest | None = None,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
) -> PageResult[Job]:
    """The most recently enqueued jobs first (ties by id), optionally of one status and kind, a
    page at a time (`page.cursor`: the previous page's `next_cursor`)."""
    page = page or PageRequest(limit=100, cursor=None)
    page = PageRequest(limit=max(1, min(page.limit, MAX_LIST_LIMIT)), cursor=page.cursor)
    statement = repository.jobs(status=status, kind=kind)
    return await paginate(session, statement, Job, page, newest_first=True)


async def queue_summary(session: AsyncSession, now: datetime) -> JobQueueSummary:
    """The queue at a glance: counts by status and by kind, and the due backlog."""
    due, oldest = await repository.due_backlog(session, now)
    return JobQueueSummary(
        counts=await count_jobs_by_status(session),
        counts_by_kind=await repository.job_counts_by_kind(session),
        due=due,
        oldest_due_at=oldest,
    )


async def count_jobs_by_status(session: AsyncSession) -> dict[JobStatus, int]:
    """How many jobs are in each status (every status present, zero if none): queue health."""
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in (await repository.job_counts_by_status(session)).items():
        counts[JobStatus(status)] = count
    return counts


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Job:
    job = await repository.job(session, job_id)
    if job is None:
        raise NotFound("job", job_id)
    return job


async def retry_dead(session: AsyncSession, job_id: uuid.UUID, *, clock: Clock) -> Job:
    """Queues a dead job again now, with all its attempts back; `last_error` keeps why it died."""
    job = await get_job(session, job_id)
    if job.status != JobStatus.DEAD:
        raise Conflict(
            f"Only dead jobs can be retried; this job is {job.status}.",
            details={"job_id": str(job_id), "status": str(job.status)},
        )
    now = clock.now()
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.run_at = now
    job.finished_at = None
    job.updated_at = now
    await session.flush()
    return job


async def purge_succeeded(session: AsyncSession, *, finished_before: datetime) -> int:
    """Deletes succeeded jobs that finished before the given time; returns how many.

    Their dedupe keys are freed with them, so purge only well after a key could be enqueued
    again (a schedule's slot is only ever enqueued while it is current).
    """
    return await repository.delete_succeeded(session, finished_before=finished_before)
