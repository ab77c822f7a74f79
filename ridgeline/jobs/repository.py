"""Queries over the job table besides the queue's own storage operations (which workers use,
in `queue.py`): what operators list and purge, and what a domain asks of its waiting jobs.
Jobs belong to the system, not to a tenant: nothing is scoped."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.job import Job, JobStatus


def jobs(*, status: JobStatus | None, kind: str | None) -> Select[Job]:
    """Every job, or those of one status and kind (unordered: the caller pages it)."""
    statement = select(Job)
    if status is not None:
        statement = statement.where(Job.status == status)
    if kind is not None:
        statement = statement.where(Job.kind == kind)
    return statement


async def job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id)


async def job_counts_by_status(session: AsyncSession) -> dict[JobStatus, int]:
    """How many jobs each status present in the table has (absent statuses are left out)."""
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    return dict(rows.all())


async def job_counts_by_kind(session: AsyncSession) -> dict[str, dict[JobStatus, int]]:
    """For each kind present in the table, how many jobs each of its statuses has."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    )
    counts: dict[str, dict[JobStatus, int]] = {}
    for kind, status, count in rows.all():
        counts.setdefault(str(kind), {})[JobStatus(status)] = int(count)
    return counts


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


async def dead_since(session: AsyncSession, since: datetime) -> tuple[int, list[str]]:
    """How many jobs went dead at `since` or later, and their kinds (most frequent first)."""
    statement = (
        select(Job.kind, func.count())
        .where(Job.status == JobStatus.DEAD, Job.finished_at >= since)
        .group_by(Job.kind)
        .order_by(func.count().desc(), Job.kind)
    )
    rows = (await session.execute(statement)).all()
    return sum(int(count) for _, count in rows), [str(kind) for kind, _ in rows]


async def due_backlog(session: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """Jobs due by `now` that no worker has started (queued, or failed and due to retry): how
    many, and the due time of the one waiting longest."""
    statement = select(func.count(), func.min(Job.run_at)).where(
        Job.status.in_((JobStatus.QUEUED, JobStatus.FAILED)), Job.run_at <= now
    )
    count, oldest = (await session.execute(statement)).one()
    return int(count or 0), oldest
