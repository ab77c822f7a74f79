from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.jobs import Backoff, ClaimedJob, claim, complete, defer, enqueue, extend_lease, fail
from ridgeline.jobs.queue import LEASE_EXPIRED, LEASE_EXPIRED_LAST_ATTEMPT
from ridgeline.models.job import Job, JobStatus
from tests.jobs.factories import add_job, count_jobs, load_job

LEASE_S = 30.0


async def claim_one(database: Database, clock: FakeClock, worker_id: str = "w1") -> ClaimedJob:
    jobs = await claim(database, worker_id=worker_id, limit=1, lease_s=LEASE_S, clock=clock)
    assert len(jobs) == 1
    return jobs[0]


# Backoff


@pytest.mark.parametrize("attempt", [0, 1, 2, 5, 11, 12, 40, 10_000])
def test_backoff_delay_stays_within_the_full_jitter_window(attempt: int) -> None:
    backoff = Backoff(base_s=1.0, cap_s=3600.0)
    rng = random.Random(7)
    ceiling = min(3600.0, 1.0 * 2 ** min(attempt, 64))
    delays = [backoff.delay_s(attempt, rng) for _ in range(200)]
    assert all(0.0 <= delay <= ceiling for delay in delays)
    assert backoff.ceiling_s(attempt) == ceiling
    # Full jitter spreads over the whole window, not just near its top.
    assert min(delays) < ceiling / 4 < ceiling * 3 / 4 < max(delays)


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    backoff = Backoff(base_s=0.5, cap_s=60.0)
    first = [backoff.delay_s(n, random.Random(42)) for n in range(10)]
    again = [backoff.delay_s(n, random.Random(42)) for n in range(10)]
    assert first == again


def test_backoff_refuses_nonpositive_settings() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Backoff(base_s=0)
    with pytest.raises(ValueError, match="must be > 0"):
        Backoff(cap_s=-1)


# Enqueue


async def test_enqueue_commits_with_the_callers_transaction(
    database: Database, clock: FakeClock
) -> None:
    async def change_that_fails() -> None:
        async with database.transaction() as session:
            await enqueue(session, "test.noop", {"n": 1}, clock=clock)
            raise RuntimeError("the change that caused the job failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    assert await count_jobs(database) == 0

    async with database.transaction() as session:
        job = await enqueue(session, "test.noop", {"n": 2}, clock=clock, priority=3)
    assert job is not None
    stored = await load_job(database, job.id)
    assert stored.status == JobStatus.QUEUED
    assert stored.payload == {"n": 2}
    assert stored.priority == 3
    assert stored.run_at == clock.now()
    assert stored.attempts == 0


async def test_enqueue_refuses_zero_attempts(database: Database, clock: FakeClock) -> None:
    async with database.transaction() as session:
        with pytest.raises(ValueError, match="max_attempts"):
            await enqueue(session, "test.noop", clock=clock, max_attempts=0)


async def test_enqueue_with_a_known_dedupe_key_inserts_nothing(
    database: Database, clock: FakeClock
) -> None:
    first_id = await add_job(database, clock=clock, dedupe_key="sync:store-1")
    async with database.transaction() as session:
        duplicate = await enqueue(session, "test.noop", clock=clock, dedupe_key="sync:store-1")
        # The transaction is still usable after the conflict (no aborted transaction on
        # PostgreSQL), so the caller's other work commits.
        other = await enqueue(session, "test.noop", clock=clock, dedupe_key="sync:store-2")
    assert duplicate is None
    assert other is not None
    async with database.transaction(write=False) as session:
        keys = (await session.scalars(select(Job.dedupe_key).order_by(Job.dedupe_key))).all()
    assert keys == ["sync:store-1", "sync:store-2"]
    assert (await load_job(database, first_id)).dedupe_key == "sync:store-1"


async def test_jobs_without_dedupe_key_never_conflict(database: Database, clock: FakeClock) -> None:
    await add_job(database, clock=clock)
    await add_job(database, clock=clock)
    assert await count_jobs(database) == 2


# Claim


async def test_claim_takes_jobs_by_priority_then_run_at_and_skips_future_ones(
    database: Database, clock: FakeClock
) -> None:
    now = clock.now()
    late_urgent = await add_job(
        database, clock=clock, priority=0, run_at=now - timedelta(seconds=1)
    )
    early_normal = await add_job(
        database, clock=clock, priority=5, run_at=now - timedelta(seconds=60)
    )
    early_urgent = await add_job(
        database, clock=clock, priority=0, run_at=now - timedelta(seconds=30)
    )
    await add_job(database, clock=clock, priority=-10, run_at=now + timedelta(seconds=5))

    jobs = await claim(database, worker_id="w1", limit=10, lease_s=LEASE_S, clock=clock)

    assert [job.id for job in jobs] == [early_urgent, late_urgent, early_normal]
    assert await claim(database, worker_id="w2", limit=10, lease_s=LEASE_S, clock=clock) == []


async def test_claim_respects_its_limit(database: Database, clock: FakeClock) -> None:
    for _ in range(5):
        await add_job(database, clock=clock)
    first = await claim(database, worker_id="w1", limit=2, lease_s=LEASE_S, clock=clock)
    second = await claim(database, worker_id="w2", limit=10, lease_s=LEASE_S, clock=clock)
    assert len(first) == 2
    assert len(second) == 3
    assert not {job.id for job in first} & {job.id for job in second}
    assert await claim(database, worker_id="w1", limit=0, lease_s=LEASE_S, clock=clock) == []


async def test_claim_leases_the_job_to_the_worker(database: Database, clock: FakeClock) -> None:
    job_id = await add_job(database, "test.kind", {"a": 1}, clock=clock, max_attempts=4)
    job = await claim_one(database, clock, worker_id="worker-a")
    assert (job.id, job.kind, job.payload, job.attempt, job.max_attempts) == (
        job_id,
        "test.kind",
        {"a": 1},
        1,
        4,
    )
    stored = await load_job(database, job_id)
    assert stored.status == JobStatus.RUNNING
    assert stored.attempts == 1
    assert stored.locked_by == "worker-a"
    assert stored.lease_token == job.lease_token
    assert stored.lease_expires_at == clock.now() + timedelta(seconds=LEASE_S)


async def test_an_expired_lease_is_reclaimed_with_a_new_token(
    database: Database, clock: FakeClock
) -> None:
    job_id = await add_job(database, clock=clock)
    lost = await claim_one(database, clock, worker_id="worker-a")
    clock.advance(LEASE_S - 1)
    assert await claim(database, worker_id="worker-b", limit=1, lease_s=LEASE_S, clock=clock) == []

    clock.advance(2)
    reclaimed = await claim_one(database, clock, worker_id="worker-b")

    assert reclaimed.id == job_id
    assert reclaimed.attempt == 2
    assert reclaimed.lease_token != lost.lease_token
    stored = await load_job(database, job_id)
    assert stored.locked_by == "worker-b"
    assert stored.last_error == LEASE_EXPIRED


async def test_a_lost_lease_cannot_overwrite_the_new_owners_outcome(
    database: Database, clock: FakeClock, rng: random.Random
) -> None:
    job_id = await add_job(database, clock=clock)
    lost = await claim_one(database, clock, worker_id="worker-a")
    clock.advance(LEASE_S + 1)
    owner = await claim_one(database, clock, worker_id="worker-b")

    assert await extend_lease(database, lost, lease_s=LEASE_S, clock=clock) is None
    assert await complete(database, lost, clock=clock) is False
    assert await fail(database, lost, "boom", clock=clock, rng=rng) is None
    assert await defer(database, lost, delay_s=5, clock=clock) is False
    stored = await load_job(database, job_id)
    assert (stored.status, stored.lease_token) == (JobStatus.RUNNING, owner.lease_token)

    clock.advance(1)
    assert await extend_lease(database, owner, lease_s=LEASE_S, clock=clock) == (
        clock.now() + timedelta(seconds=LEASE_S)
    )
    assert await complete(database, owner, clock=clock) is True
    stored = await load_job(database, job_id)
    assert stored.status == JobStatus.SUCCEEDED
    assert stored.finished_at == clock.now()
    assert stored.lease_token is None
    # Completing twice is refused too: the lease ended with the first outcome.
    assert await complete(database, owner, clock=clock) is False


async def test_a_failing_job_backs_off_then_dies_with_its_last_error(
    database: Database, clock: FakeClock, rng: random.Random
) -> None:
    backoff = Backoff(base_s=1.0, cap_s=3600.0)
    job_id = await add_job(database, clock=clock, max_attempts=3)

    for attempt in (1, 2):
        job = await claim_one(database, clock)
        assert job.attempt == attempt
        recorded = await fail(
            database, job, f"error {attempt}", clock=clock, rng=rng, backoff=backoff
        )
        assert recorded is not None
        assert recorded.status == JobStatus.FAILED
        assert recorded.retry_at is not None
        delay = recorded.retry_at - clock.now()
        assert timedelta(0) <= delay <= timedelta(seconds=backoff.ceiling_s(attempt))
        stored = await load_job(database, job_id)
        assert (stored.status, stored.run_at, stored.last_error) == (
            JobStatus.FAILED,
            recorded.retry_at,
            f"error {attempt}",
        )
        if delay > timedelta(0):
            assert await claim(database, worker_id="w", limit=1, lease_s=1, clock=clock) == []
        clock.advance(delay.total_seconds())

    job = await claim_one(database, clock)
    recorded = await fail(database, job, "error 3", clock=clock, rng=rng, backoff=backoff)
    assert recorded is not None
    assert (recorded.status, recorded.retry_at) == (JobStatus.DEAD, None)
    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts, stored.last_error) == (JobStatus.DEAD, 3, "error 3")
    assert stored.finished_at == clock.now()
    clock.advance(10_000)
    assert await claim(database, worker_id="w", limit=1, lease_s=1, clock=clock) == []


async def test_a_permanent_failure_is_dead_at_once(
    database: Database, clock: FakeClock, rng: random.Random
) -> None:
    job_id = await add_job(database, clock=clock, max_attempts=10)
    job = await claim_one(database, clock)
    recorded = await fail(database, job, "bad payload", clock=clock, rng=rng, permanent=True)
    assert recorded is not None
    assert recorded.status == JobStatus.DEAD
    assert (await load_job(database, job_id)).status == JobStatus.DEAD


async def test_a_lease_expiring_on_the_last_attempt_makes_the_job_dead(
    database: Database, clock: FakeClock
) -> None:
    job_id = await add_job(database, clock=clock, max_attempts=1)
    await claim_one(database, clock, worker_id="worker-a")
    clock.advance(LEASE_S + 1)

    assert await claim(database, worker_id="worker-b", limit=1, lease_s=LEASE_S, clock=clock) == []

    stored = await load_job(database, job_id)
    assert stored.status == JobStatus.DEAD
    assert stored.last_error == LEASE_EXPIRED_LAST_ATTEMPT
    assert stored.attempts == 1
    assert stored.finished_at == clock.now()
    assert stored.locked_by == "worker-a"  # who held it last, for the operator


async def test_defer_requeues_later_and_gives_the_attempt_back(
    database: Database, clock: FakeClock
) -> None:
    job_id = await add_job(database, clock=clock, max_attempts=1)
    job = await claim_one(database, clock)
    assert await defer(database, job, delay_s=90, clock=clock) is True

    stored = await load_job(database, job_id)
    assert stored.status == JobStatus.QUEUED
    assert stored.attempts == 0
    assert stored.run_at == clock.now() + timedelta(seconds=90)
    clock.advance(89)
    assert await claim(database, worker_id="w", limit=1, lease_s=1, clock=clock) == []
    clock.advance(1)
    assert (await claim_one(database, clock)).attempt == 1
