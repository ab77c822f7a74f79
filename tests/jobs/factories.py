"""Small builders for job tests."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.jobs import enqueue
from ridgeline.models.job import Job, JobStatus


async def add_job(
    database: Database,
    kind: str = "test.noop",
    payload: Mapping[str, Any] | None = None,
    *,
    clock: Clock,
    run_at: datetime | None = None,
    priority: int = 0,
    max_attempts: int = 10,
    dedupe_key: str | None = None,
) -> uuid.UUID:
    async with database.transaction() as session:
        job = await enqueue(
            session,
            kind,
            payload,
            clock=clock,
            run_at=run_at,
            priority=priority,
            max_attempts=max_attempts,
            dedupe_key=dedupe_key,
        )
    assert job is not None
    return job.id


async def add_jobs(
    database: Database, count: int, kind: str, payload: Mapping[str, Any], *, clock: Clock
) -> list[uuid.UUID]:
    """`count` jobs committed in one transaction."""
    ids = []
    async with database.transaction() as session:
        for _ in range(count):
            job = await enqueue(session, kind, payload, clock=clock)
            assert job is not None
            ids.append(job.id)
    return ids


async def load_job(database: Database, job_id: uuid.UUID) -> Job:
    async with database.transaction(write=False) as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def count_jobs(database: Database, status: JobStatus | None = None) -> int:
    statement = select(func.count()).select_from(Job)
    if status is not None:
        statement = statement.where(Job.status == status)
    async with database.transaction(write=False) as session:
        return (await session.execute(statement)).scalar_one()
