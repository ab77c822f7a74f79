"""The job queue's storage operations. Jobs are rows; a worker owns one under a lease.

Life of a job: `enqueue` inserts it `queued`; `claim` makes it `running` under a fresh lease token
that expires at `lease_expires_at` unless `extend_lease` pushes it on; the owner then records the
outcome with `complete`, `fail` (`failed` with a backoff `run_at`, or `dead` when out of attempts)
or `defer`. Each of these is guarded by the lease token, so a worker whose lease expired and was
reclaimed cannot overwrite what the new owner records. `claim` also reclaims expired leases: the
job goes back to `queued` (or `dead` if that was its last attempt) and runs again.

`locked_by` is kept after the lease ends: it names the worker that last ran the job.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.db.engine import ENQUEUED_JOBS, Database
from ridgeline.jobs.metrics import JOB_START_DELAY, JOBS_FINISHED, JOBS_RECLAIMED, JobOutcome
from ridgeline.jobs.wakeup import CHANNEL as JOB_DUE_CHANNEL
from ridgeline.models.job import Job, JobStatus
from ridgeline.monitoring.tracing import current_traceparent

log = structlog.get_logger(__name__)

DEFAULT_MAX_ATTEMPTS = 10
LEASE_EXPIRED_LAST_ATTEMPT = "lease expired on the last attempt"
LEASE_EXPIRED = "lease expired before the worker recorded an outcome"

# Jobs of a priority below this are urgent: someone waits on them now (a kiosk's order, a
# store's order queue, an alert's notification). A worker keeps a slot that only they may take,
# so routine work (syncs, status polls) filling every other slot cannot hold an order back.
URGENT_BELOW = 0

# Claimable rows are waiting, or were retried and their backoff has passed.
_WAITING = (JobStatus.QUEUED, JobStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter exponential backoff: after attempt n, wait `uniform(0, min(cap, base * 2**n))`.

    Full jitter spreads the retries of jobs that failed together (a POS outage) over the whole
    window instead of sending them back in a wave.
    """

    base_s: float = 1.0
    cap_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s <= 0:
            raise ValueError(f"backoff base and cap must be > 0, got {self.base_s}, {self.cap_s}")

    def ceiling_s(self, attempt: int) -> float:
        # The exponent is bounded so that a large attempt count cannot overflow a float.
        return min(self.cap_s, self.base_s * 2.0 ** min(max(attempt, 0), 64))

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling_s(attempt))


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds the lease of: the snapshot taken when it was claimed."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    priority: int
    run_at: datetime
    enqueued_at: datetime
    worker_id: str
    lease_token: str
    lease_expires_at: datetime
    trace_context: str | None = None  # the queuing span's traceparent: the job's span's parent

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


@dataclass(frozen=True, slots=True)
class RecordedFailure:
    status: JobStatus  # FAILED (will retry at retry_at) or DEAD
    retry_at: datetime | None


async def notify_job_due(session: AsyncSession) -> None:
    """Tells every worker, when the caller's transaction commits, that a job is due (PostgreSQL
    only, see `wakeup`;
    the caller sends it once per transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": JOB_DUE_CHANNEL})


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    *,
    clock: Clock,
    run_at: datetime | None = None,
    priority: int = 0,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    dedupe_key: str | None = None,
) -> Job | None:
    """Adds a job in the caller's transaction: it commits, or not, with the change that caused it.

    With a `dedupe_key` that some job already has (in any status, until that row is purged),
    nothing is inserted and None is returned. Lower `priority` runs first. The job carries the
    current span's trace context, so that its run continues the trace that queued it.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    now = clock.now()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "kind": kind,
        "payload": dict(payload or {}),
        "status": JobStatus.QUEUED,
        "priority": priority,
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedupe_key": dedupe_key,
        "trace_context": current_traceparent(),
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    # ON CONFLICT DO NOTHING rather than catching IntegrityError: a failed INSERT would abort the
    # caller's whole transaction on PostgreSQL.
    if dialect == "postgresql":
        pg_insert = postgresql.insert(Job).values(values)
        statement = pg_insert.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Job)
    elif dialect == "sqlite":
        lite_insert = sqlite.insert(Job).values(values)
        statement = lite_insert.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Job)
    else:
        raise NotImplementedError(f"the job queue does not support {dialect!r}")
    job = (await session.scalars(statement)).one_or_none()
    if job is not None and values["run_at"] <= now and not session.info.get(ENQUEUED_JOBS):
        # On commit, a worker claims it at once instead of at its next poll: this process's
        # through the commit hook, every other process's through PostgreSQL (wakeup.py).
        session.info[ENQUEUED_JOBS] = True
        await notify_job_due(session)
    return job


async def claim(
    database: Database,
    *,
    worker_id: str,
    limit: int,
    lease_s: float,
    clock: Clock,
    urgent_only: bool = False,
) -> list[ClaimedJob]:
    """Takes up to `limit` runnable jobs under a new lease, in one short write transaction
    (`urgent_only`: only jobs of a priority below 0, see `URGENT_BELOW`).

    First reclaims running jobs whose lease has expired (their worker died or stalled), then
    takes queued jobs, and failed jobs whose `run_at` has come, by priority then `run_at`. On
    PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, so concurrent claimers take disjoint
    rows without waiting; on SQLite the write transaction (`BEGIN IMMEDIATE`) serializes claimers.
    """
    if limit < 1:
        return []
    now = clock.now()
    lease_token = secrets.token_hex(16)  # one per claim: guards match on (id, token)
    lease_expires_at = now + timedelta(seconds=lease_s)
    async with database.transaction() as session:
        await _reclaim_expired_leases(session, now=now, skip_locked=database.is_postgresql)
        picked = (
            select(Job.id)
            .where(Job.status.in_(_WAITING), Job.run_at <= now)
            .order_by(Job.priority, Job.run_at)
            .limit(limit)
        )
        if urgent_only:
            picked = picked.where(Job.priority < URGENT_BELOW)
        if database.is_postgresql:
            picked = picked.with_for_update(skip_locked=True)
        statement = (
            update(Job)
            .where(Job.id.in_(picked))
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                lease_token=lease_token,
                locked_by=worker_id,
                lease_expires_at=lease_expires_at,
                updated_at=now,
            )
            .returning(
                Job.id,
                Job.kind,
                Job.payload,
                Job.attempts,
                Job.max_attempts,
                Job.priority,
                Job.run_at,
                Job.created_at,
                Job.trace_context,
            )
            .execution_options(synchronize_session=False)
        )
        rows = (await session.execute(statement)).all()
    claimed = [
        ClaimedJob(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            attempt=row.attempts,
            max_attempts=row.max_attempts,
            priority=row.priority,
            run_at=row.run_at,
            enqueued_at=row.created_at,
            worker_id=worker_id,
            lease_token=lease_token,
            lease_expires_at=lease_expires_at,
            trace_context=row.trace_context,
        )
        for row in rows
    ]
    for job in claimed:
        # A backlog shows here before it shows anywhere else: jobs wait longer past their due time.
        JOB_START_DELAY.labels(kind=job.kind).observe(max(0.0, (now - job.run_at).total_seconds()))
    # RETURNING has no order; hand jobs out in the order they were picked.
    return sorted(claimed, key=lambda job: (job.priority, job.run_at))


async def _reclaim_expired_leases(
    session: AsyncSession, *, now: datetime, skip_locked: bool
) -> None:
    """Takes back running jobs whose lease expired: queued again, or dead after the last attempt.

    This is a separate statement from the claim itself so that each reclaim can be logged with the
    worker that lost it (RETURNING only shows the new row, and the claim overwrites `locked_by`).
    """
    for on_last_attempt in (True, False):
        attempts_left = (
            Job.attempts >= Job.max_attempts if on_last_attempt else Job.attempts < Job.max_attempts
        )
        expired = select(Job.id).where(
            Job.status == JobStatus.RUNNING, Job.lease_expires_at < now, attempts_left
        )
        if skip_locked:
            expired = expired.with_for_update(skip_locked=True)
        values: dict[str, Any] = {"lease_token": None, "lease_expires_at": None, "updated_at": now}
        if on_last_attempt:
            values |= {
                "status": JobStatus.DEAD,
                "last_error": LEASE_EXPIRED_LAST_ATTEMPT,
                "finished_at": now,
            }
        else:
            values |= {"status": JobStatus.QUEUED, "last_error": LEASE_EXPIRED}
        statement = (
            update(Job)
            .where(Job.id.in_(expired))
            .values(values)
            .returning(Job.id, Job.kind, Job.attempts, Job.locked_by)
            .execution_options(synchronize_session=False)
        )
        for row in (await session.execute(statement)).all():
            JOBS_RECLAIMED.labels(kind=row.kind).inc()
            fields = {
                "job_id": str(row.id),
                "kind": row.kind,
                "attempt": row.attempts,
                "lost_by": row.locked_by,
            }
            if on_last_attempt:
                JOBS_FINISHED.labels(kind=row.kind, outcome=JobOutcome.DEAD).inc()
                log.error("job_dead", error=LEASE_EXPIRED_LAST_ATTEMPT, **fields)
            else:
                log.warning("job_reclaimed", **fields)


def _still_held(job: ClaimedJob) -> ColumnElement[bool]:
    """True while `job`'s lease has not been reclaimed: the guard on every owner's write."""
    return and_(
        Job.id == job.id,
        Job.status == JobStatus.RUNNING,
        Job.lease_token == job.lease_token,
    )


async def _update_if_held(
    database: Database, job: ClaimedJob, values: dict[str, Any], *, due_now: bool = False
) -> bool:
    """Writes `values` if the lease still holds; `due_now` (the job is claimable again at once)
    also wakes every worker when it commits."""
    statement = (
        update(Job)
        .where(_still_held(job))
        .values(values)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    async with database.transaction() as session:
        updated = (await session.execute(statement)).scalar_one_or_none()
        if updated is not None and due_now:
            session.info[ENQUEUED_JOBS] = True
            await notify_job_due(session)
    return updated is not None


async def extend_lease(
    database: Database, job: ClaimedJob, *, lease_s: float, clock: Clock
) -> datetime | None:
    """Pushes the lease to now + `lease_s`; None if the lease was lost (the job was reclaimed)."""
    now = clock.now()
    expires_at = now + timedelta(seconds=lease_s)
    held = await _update_if_held(database, job, {"lease_expires_at": expires_at, "updated_at": now})
    return expires_at if held else None


async def complete(database: Database, job: ClaimedJob, *, clock: Clock) -> bool:
    """Marks the job succeeded; False if the lease was lost and nothing was written."""
    now = clock.now()
    return await _update_if_held(
        database,
        job,
        {
            "status": JobStatus.SUCCEEDED,
            "finished_at": now,
            "lease_token": None,
            "lease_expires_at": None,
            "updated_at": now,
        },
    )


async def fail(
    database: Database,
    job: ClaimedJob,
    error: str,
    *,
    clock: Clock,
    rng: random.Random,
    backoff: Backoff | None = None,
    permanent: bool = False,
) -> RecordedFailure | None:
    """Records a failed attempt: retried after a backoff, or dead when out of attempts.

    `permanent` makes it dead now whatever attempts are left. Returns None if the lease was lost.
    """
    now = clock.now()
    values: dict[str, Any] = {
        "last_error": error,
        "lease_token": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    retry_at: datetime | None = None
    if permanent or job.is_last_attempt:
        status = JobStatus.DEAD
        values |= {"status": status, "finished_at": now}
    else:
        status = JobStatus.FAILED
        delay_s = (backoff or Backoff()).delay_s(job.attempt, rng)
        retry_at = now + timedelta(seconds=delay_s)
        values |= {"status": status, "run_at": retry_at}
    if not await _update_if_held(database, job, values):
        return None
    return RecordedFailure(status=status, retry_at=retry_at)


async def defer(database: Database, job: ClaimedJob, *, delay_s: float, clock: Clock) -> bool:
    """Queues the job again in `delay_s` seconds and gives back the attempt it used.

    For a handler's `RetryLater`: "not now" is not a failure and must not bring the job closer to
    dead. False if the lease was lost.
    """
    now = clock.now()
    return await _update_if_held(
        database,
        job,
        {
            "status": JobStatus.QUEUED,
            "run_at": now + timedelta(seconds=delay_s),
            "attempts": Job.attempts - 1,
            "lease_token": None,
            "lease_expires_at": None,
            "updated_at": now,
        },
    )


async def release(database: Database, job: ClaimedJob, *, clock: Clock) -> bool:
    """Gives back a job its worker will not finish (it is shutting down): queued and due now,
    its attempt returned, and every worker woken, so another one runs it at once instead of
    when the lease would have expired. False if the lease was lost."""
    now = clock.now()
    return await _update_if_held(
        database,
        job,
        {
            "status": JobStatus.QUEUED,
            "run_at": now,
            "attempts": Job.attempts - 1,
            "lease_token": None,
            "lease_expires_at": None,
            "updated_at": now,
        },
        due_now=True,
    )
