"""Queries over the job table besides the queue's own storage operations (which workers use,
in `queue.py`): what operators list and purge, and what a domain asks of its waiting jobs.
Jobs belong to the system, not to a tenant: nothing is scoped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.job import Job, JobStatus


async def recent_jobs(
    session: AsyncSession, *, status: JobStatus | None, kind: str | None, limit: int
) -> Sequence[Job]:
    """The most recently enqueued jobs first (ties by id), optionally of one status and kind."""
    statement = select(Job).order_by(Job.created_at.desc(), Job.id)
    if status is not None:
        statement = statement.where(Job.status == status)
    if kind is not None:
        statement = statement.where(Job.kind == kind)
    return (await session.scalars(statement.limit(limit))).all()


async def job_counts_by_status(session: AsyncSession) -> dict[JobStatus, int]:
    """How many jobs each status present in the table has (absent statuses are left out)."""
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    return dict(rows.all())


async def delete_succeeded(session: AsyncSession, *, finished_before: datetime) -> int:
    """Deletes the succeeded jobs that finished before `finished_before`; returns how many."""
    statement = (
        delete(Job)
        .where(Job.status == JobStatus.SUCCEEDED, Job.finished_at < finished_before)
        .returning(Job.id)
    )
    return len((await session.execute(statement)).all())


async def queued_jobs(session: AsyncSession, kind: str) -> list[Job]:
    """Jobs of `kind` waiting to be claimed."""
    statement = select(Job).where(Job.kind == kind, Job.status == JobStatus.QUEUED)
    return list((await session.scalars(statement)).all())
