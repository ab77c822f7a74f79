from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from ridgeline.api.pagination import PageRequest
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.errors import Conflict, NotFound
from ridgeline.jobs import (
    claim,
    complete,
    count_jobs_by_status,
    fail,
    get_job,
    list_jobs,
    purge_succeeded,
    retry_dead,
)
from ridgeline.models.job import JobStatus
from tests.jobs.factories import add_job, count_jobs, load_job


async def make_dead_job(database: Database, clock: FakeClock) -> uuid.UUID:
    job_id = await add_job(database, "test.doomed", clock=clock, max_attempts=1)
    [job] = await claim(database, worker_id="w", limit=1, lease_s=10, clock=clock)
    await fail(database, job, "ValueError: nope", clock=clock, rng=random.Random(0))
    return job_id


async def test_list_jobs_filters_and_shows_the_newest_first(
    database: Database, clock: FakeClock
) -> None:
    dead = await make_dead_job(database, clock)
    clock.advance(1)
    first = await add_job(database, "sync.catalog", clock=clock)
    clock.advance(1)
    second = await add_job(database, "orders.submit", clock=clock)
    clock.advance(1)
    third = await add_job(database, "sync.catalog", clock=clock)

    async with database.transaction(write=False) as session:
        everything = (await list_jobs(session)).items
        catalog = (await list_jobs(session, kind="sync.catalog")).items
        dead_only = (await list_jobs(session, status=JobStatus.DEAD)).items
        newest = await list_jobs(session, PageRequest(limit=1, cursor=None))
        assert newest.next_cursor is not None
        after = await list_jobs(session, PageRequest(limit=2, cursor=newest.next_cursor))
        assert after.next_cursor is not None
        last = await list_jobs(session, PageRequest(limit=2, cursor=after.next_cursor))
    assert [job.id for job in everything] == [third, second, first, dead]
    assert [job.id for job in catalog] == [third, first]
    assert [job.id for job in dead_only] == [dead]
    assert [job.id for job in newest.items] == [third]
    assert [job.id for job in after.items] == [second, first]
    assert [job.id for job in last.items] == [dead]
    assert last.next_cursor is None


async def test_count_jobs_by_status_lists_every_status(
    database: Database, clock: FakeClock
) -> None:
    await make_dead_job(database, clock)
    await add_job(database, clock=clock)
    async with database.transaction(write=False) as session:
        counts = await count_jobs_by_status(session)
    assert counts == {
        JobStatus.QUEUED: 1,
        JobStatus.RUNNING: 0,
        JobStatus.SUCCEEDED: 0,
        JobStatus.FAILED: 0,
        JobStatus.DEAD: 1,
    }


async def test_get_job_raises_not_found(database: Database, clock: FakeClock) -> None:
    job_id = await add_job(database, clock=clock)
    async with database.transaction(write=False) as session:
        assert (await get_job(session, job_id)).id == job_id
        with pytest.raises(NotFound):
            await get_job(session, uuid.uuid4())


async def test_retry_dead_queues_the_job_with_fresh_attempts(
    database: Database, clock: FakeClock
) -> None:
    job_id = await make_dead_job(database, clock)
    clock.advance(60)
    async with database.transaction() as session:
        job = await retry_dead(session, job_id, clock=clock)
        assert job.status == JobStatus.QUEUED

    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts, stored.run_at) == (JobStatus.QUEUED, 0, clock.now())
    assert stored.finished_at is None
    assert stored.last_error == "ValueError: nope"
    [again] = await claim(database, worker_id="w", limit=1, lease_s=10, clock=clock)
    assert (again.id, again.attempt) == (job_id, 1)


async def test_only_dead_jobs_can_be_retried(database: Database, clock: FakeClock) -> None:
    job_id = await add_job(database, clock=clock)
    async with database.transaction() as session:
        with pytest.raises(Conflict, match="queued"):
            await retry_dead(session, job_id, clock=clock)
        with pytest.raises(NotFound):
            await retry_dead(session, uuid.uuid4(), clock=clock)


async def test_purge_succeeded_deletes_only_old_successes(
    database: Database, clock: FakeClock
) -> None:
    old = await add_job(database, clock=clock)
    [job] = await claim(database, worker_id="w", limit=1, lease_s=10, clock=clock)
    await complete(database, job, clock=clock)
    clock.advance(3600)
    recent = await add_job(database, clock=clock)
    [job] = await claim(database, worker_id="w", limit=1, lease_s=10, clock=clock)
    await complete(database, job, clock=clock)
    waiting = await add_job(database, clock=clock)

    async with database.transaction() as session:
        purged = await purge_succeeded(session, finished_before=clock.now() - timedelta(minutes=30))
    assert purged == 1
    assert await count_jobs(database) == 2
    async with database.transaction(write=False) as session:
        remaining = {job.id for job in (await list_jobs(session)).items}
    assert remaining == {recent, waiting}
    assert old not in remaining
