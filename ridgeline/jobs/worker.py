"""The worker loop: claims jobs, runs their handlers, records outcomes, keeps leases alive.

The same `Worker` runs embedded in `ridgeline serve` and alone in `ridgeline worker`; any number of
them, in any number of processes, share one jobs table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from ridgeline.clock import Clock, SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.errors import RidgelineError
from ridgeline.jobs.metrics import JOB_RUN_SECONDS, JOBS_FINISHED, JobOutcome
from ridgeline.jobs.queue import (
    URGENT_BELOW,
    Backoff,
    ClaimedJob,
    claim,
    complete,
    defer,
    extend_lease,
    fail,
    release,
)
from ridgeline.jobs.registry import (
    HandlerTimedOut,
    JobContext,
    JobRegistry,
    JobServices,
    PermanentFailure,
    RegisteredHandler,
    RetryLater,
)
from ridgeline.jobs.schedule import Schedule, Scheduler
from ridgeline.jobs.wakeup import listening
from ridgeline.monitoring import tracing
from ridgeline.monitoring.errors import log_unexpected
from ridgeline.monitoring.logging import redact_text

log = structlog.get_logger(__name__)

LAST_ERROR_MAX_CHARS = 8000
# Payload fields bound to every log line of a job (its failure included), when it has them.
CONTEXT_FIELDS = ("organization_id", "store_id", "kiosk_id", "order_id")


def default_worker_id() -> str:
    """host:pid:random, so that `locked_by` tells an operator which process ran a job."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:200]


def describe_error(error: BaseException) -> str:
    """`last_error` text: the exception on the first line (for lists), then the traceback's end,
    with secrets masked as in the logs (the jobs API shows it to operators)."""
    headline = redact_text(f"{type(error).__name__}: {error}")
    trace = redact_text("".join(traceback.format_exception(error)))
    room = LAST_ERROR_MAX_CHARS - len(headline) - 2
    if room <= 0:
        return headline[:LAST_ERROR_MAX_CHARS]
    return f"{headline}\n\n{trace[-room:]}"


@dataclass(slots=True)
class _Lease:
    lost: bool = False


class Worker:
    """Runs up to `concurrency` jobs at once from the shared jobs table.

    The handler contract: a handler runs at least once per job and can run again (a crash, a lost
    lease, an outcome that failed to save), so it must be idempotent. It gets `ctx.database` and
    opens its own transactions; the job is marked done in a separate transaction after the handler
    returns. Holding one transaction across the handler would keep SQLite's single write lock for
    as long as a POS call takes. Work that must commit with the job's completion is made
    idempotent instead (a unique key, an upsert, a state check).

    While a handler runs, its lease is extended every `lease_s / 3`; if the lease is lost anyway
    (the worker stalled past it and another worker reclaimed the job) the handler is cancelled and
    its outcome discarded. On stop the worker claims nothing more, waits up to `shutdown_grace_s`
    (wall time) for running handlers, then cancels the rest without recording anything: their
    rows stay `running` and are reclaimed once their lease expires.

    `clock` stamps every time written to the table (run_at, leases, finished_at); the waits that
    pace the loop (the poll interval, heartbeats, the shutdown grace) are wall time. So with a
    `FakeClock` time moves only when a test moves it, and a test expires a lease by advancing it.
    """

    def __init__(
        self,
        database: Database,
        registry: JobRegistry,
        *,
        clock: Clock,
        rng: random.Random,
        worker_id: str | None = None,
        concurrency: int = 4,
        lease_s: float = 60.0,
        poll_interval_s: float = 1.0,
        schedules: Iterable[Schedule] = (),
        services: JobServices | None = None,
        backoff: Backoff | None = None,
        shutdown_grace_s: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if lease_s <= 0 or poll_interval_s <= 0:
            raise ValueError("lease_s and poll_interval_s must be > 0")
        self.database = database
        self.registry = registry
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.services = services or JobServices()
        self.backoff = backoff or Backoff()
        self.shutdown_grace_s = shutdown_grace_s
        # One slot kept for urgent jobs, unless that would leave routine work none.
        self.reserved_urgent = 1 if concurrency > 1 else 0
        self._clock = clock
        self._rng = rng
        self._scheduler = Scheduler(schedules)
        self._running: dict[asyncio.Task[None], ClaimedJob] = {}
        self._job_finished = asyncio.Event()
        self._woken = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        database: Database,
        registry: JobRegistry,
        *,
        schedules: Iterable[Schedule] = (),
        services: JobServices | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        worker_id: str | None = None,
        shutdown_grace_s: float = 30.0,
    ) -> Worker:
        return cls(
            database,
            registry,
            clock=clock or SystemClock(),
            rng=rng or random.Random(),  # noqa: S311 - retry jitter, not a secret
            worker_id=worker_id,
            concurrency=settings.worker_concurrency,
            lease_s=settings.job_lease_s,
            poll_interval_s=settings.job_poll_interval_s,
            schedules=schedules,
            services=services,
            shutdown_grace_s=shutdown_grace_s,
        )

    @property
    def running_jobs(self) -> list[ClaimedJob]:
        return list(self._running.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Works until `stop` is set, then drains (see the class docstring)."""
        log.info(
            "worker_started",
            worker_id=self.worker_id,
            concurrency=self.concurrency,
            kinds=sorted(self.registry.kinds),
        )
        async with contextlib.AsyncExitStack() as stack:
            if self.database.is_postgresql:
                await stack.enter_async_context(listening(self.database.url, self.wake))
            await self._work(stop)

    async def _work(self, stop: asyncio.Event) -> None:
        self.database.job_listeners.append(self.wake)
        try:
            while not stop.is_set():
                self._job_finished.clear()
                self._woken.clear()
                try:
                    await self._scheduler.tick(self.database, clock=self._clock)
                    await self._claim_and_start()
                except Exception as error:
                    # The database may be briefly unreachable; the next poll tries again.
                    log_unexpected(log, "worker_poll_failed", error, worker_id=self.worker_id)
                await self._pause(stop)
        finally:
            self.database.job_listeners.remove(self.wake)
            await self._drain()
            log.info("worker_stopped", worker_id=self.worker_id)

    async def run_until_idle(self) -> int:
        """Burst mode: works until nothing is claimable and nothing runs; returns jobs run.

        Jobs waiting on a future `run_at` (a retry's backoff) do not keep it going.
        """
        processed = 0
        try:
            await self._scheduler.tick(self.database, clock=self._clock)
            while True:
                processed += await self._claim_and_start()
                if not self._running:
                    return processed
                await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self._drain()

    async def _claim_and_start(self) -> int:
        """Claims what the free slots may take: any job for all but the reserved slot, which
        only an urgent job may take (`queue.URGENT_BELOW`)."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            return 0
        routine = sum(1 for job in self._running.values() if job.priority >= URGENT_BELOW)
        open_to_any = min(free, self.concurrency - self.reserved_urgent - routine)
        jobs: list[ClaimedJob] = []
        if open_to_any > 0:
            jobs += await self._claim(open_to_any, urgent_only=False)
        # The rest is for urgent jobs only; asked for only when the queue may hold more.
        if len(jobs) == max(open_to_any, 0) and free > len(jobs):
            jobs += await self._claim(free - len(jobs), urgent_only=True)
        for job in jobs:
            task = asyncio.create_task(self._process(job), name=f"job:{job.kind}:{job.id}")
            self._running[task] = job
            task.add_done_callback(self._forget)
        return len(jobs)

    async def _claim(self, limit: int, *, urgent_only: bool) -> list[ClaimedJob]:
        return await claim(
            self.database,
            worker_id=self.worker_id,
            limit=limit,
            lease_s=self.lease_s,
            clock=self._clock,
            urgent_only=urgent_only,
        )

    def _forget(self, task: asyncio.Task[None]) -> None:
        job = self._running.pop(task)
        self._job_finished.set()
        if not task.cancelled() and (error := task.exception()) is not None:
            log_unexpected(log, "job_task_crashed", error, **_fields(job))

    def wake(self) -> None:
        """A job due now was committed (in this process, or in another one on PostgreSQL: see
        `wakeup`): claim without waiting for the poll."""
        self._woken.set()

    async def _pause(self, stop: asyncio.Event) -> None:
        """Waits for the poll interval, a job to finish (a slot is free), a job committed in
        this process, or stop."""
        waiters = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(self._job_finished.wait()),
            asyncio.create_task(self._woken.wait()),
            asyncio.create_task(asyncio.sleep(self.poll_interval_s)),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _drain(self) -> None:
        if not self._running:
            return
        _, unfinished = await asyncio.wait(set(self._running), timeout=self.shutdown_grace_s)
        abandoned = [self._running[task] for task in unfinished]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        # Given back at once: another worker runs them now, not when their leases expire. (A
        # release that fails leaves the job to its lease, as a crash would.)
        for job in abandoned:
            try:
                released = await release(self.database, job, clock=self._clock)
            except Exception as error:
                log_unexpected(log, "job_release_failed", error, **_fields(job))
                released = False
            log.warning(
                "job_released" if released else "job_abandoned",
                job_id=str(job.id),
                kind=job.kind,
                attempt=job.attempt,
                worker_id=self.worker_id,
            )

    async def _process(self, job: ClaimedJob) -> None:
        # Bound in the job's own task: every line of the job, its handler's and its outcome's,
        # carries the job and the store (or order) it is about. Its span continues the trace of
        # whatever queued it; the handler's task inherits it, so POS calls are its children.
        attributes: dict[str, tracing.AttributeValue] = {
            "job.id": str(job.id),
            "job.kind": job.kind,
            "job.attempt": job.attempt,
        }
        with (
            structlog.contextvars.bound_contextvars(**_job_context(job)),
            tracing.start_span(
                f"job {job.kind}", "consumer", attributes, traceparent=job.trace_context
            ) as span,
        ):
            exc = await self._process_bound(job)
            if exc is not None and not isinstance(exc, RetryLater):
                tracing.mark_failed(span, exc)

    async def _process_bound(self, job: ClaimedJob) -> BaseException | None:
        """Runs the job and records its outcome; returns what the handler raised, if anything."""
        registered = self.registry.get(job.kind)
        if registered is None:
            error = f"no handler is registered for job kind {job.kind!r}"
            await self._record_failure(job, error, permanent=True, duration_s=0.0, exc=None)
            return LookupError(error)
        lease = _Lease()
        started = time.perf_counter()
        handler_task = asyncio.create_task(self._call_handler(registered, job))
        keeper = asyncio.create_task(self._keep_lease(job, handler_task, lease))
        try:
            await asyncio.wait({handler_task})
        finally:
            keeper.cancel()
            handler_task.cancel()  # a no-op once done; on shutdown it stops the handler
            await asyncio.gather(keeper, handler_task, return_exceptions=True)
        duration_s = time.perf_counter() - started
        JOB_RUN_SECONDS.labels(kind=job.kind).observe(duration_s)
        if lease.lost:
            self._count_lease_lost(job, duration_s)
            return None
        if handler_task.cancelled():
            exc: BaseException | None = asyncio.CancelledError("the handler was cancelled")
        else:
            exc = handler_task.exception()
        if exc is None:
            await self._record_success(job, duration_s)
        elif isinstance(exc, RetryLater):
            await self._record_deferral(job, exc, duration_s)
        else:
            await self._record_failure(
                job,
                describe_error(exc),
                permanent=isinstance(exc, PermanentFailure),
                duration_s=duration_s,
                exc=exc,
            )
        return exc

    async def _call_handler(self, registered: RegisteredHandler, job: ClaimedJob) -> None:
        ctx = JobContext(
            job_id=job.id,
            kind=job.kind,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            enqueued_at=job.enqueued_at,
            worker_id=self.worker_id,
            database=self.database,
            clock=self._clock,
            services=self.services,
        )
        payload = registered.parse(job.payload)
        if registered.timeout_s is None:
            await registered.handler(ctx, payload)
            return
        deadline = asyncio.timeout(registered.timeout_s)
        try:
            async with deadline:
                await registered.handler(ctx, payload)
        except TimeoutError as error:
            if deadline.expired():
                raise HandlerTimedOut(job.kind, registered.timeout_s) from error
            raise

    async def _keep_lease(
        self, job: ClaimedJob, handler_task: asyncio.Task[None], lease: _Lease
    ) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                expires_at = await extend_lease(
                    self.database, job, lease_s=self.lease_s, clock=self._clock
                )
            except Exception:
                # A database blip: try again at the next beat; the lease has slack for two.
                log.warning("job_lease_extension_failed", **_fields(job), exc_info=True)
                continue
            if expires_at is None:
                lease.lost = True
                handler_task.cancel()
                return

    async def _record_success(self, job: ClaimedJob, duration_s: float) -> None:
        try:
            recorded = await complete(self.database, job, clock=self._clock)
        except Exception as failure:
            self._log_unrecorded(job, failure)
            return
        if not recorded:
            self._count_lease_lost(job, duration_s)
            return
        JOBS_FINISHED.labels(kind=job.kind, outcome=JobOutcome.SUCCEEDED).inc()
        log.info("job_succeeded", **_fields(job, duration_s))

    async def _record_deferral(self, job: ClaimedJob, retry: RetryLater, duration_s: float) -> None:
        try:
            recorded = await defer(self.database, job, delay_s=retry.delay_s, clock=self._clock)
        except Exception as failure:
            self._log_unrecorded(job, failure)
            return
        if not recorded:
            self._count_lease_lost(job, duration_s)
            return
        JOBS_FINISHED.labels(kind=job.kind, outcome=JobOutcome.DEFERRED).inc()
        log.info(
            "job_deferred",
            **_fields(job, duration_s),
            delay_s=retry.delay_s,
            reason=retry.reason,
        )

    async def _record_failure(
        self,
        job: ClaimedJob,
        error: str,
        *,
        permanent: bool,
        duration_s: float,
        exc: BaseException | None,
    ) -> None:
        try:
            recorded = await fail(
                self.database,
                job,
                error,
                clock=self._clock,
                rng=self._rng,
                backoff=self.backoff,
                permanent=permanent,
            )
        except Exception as failure:
            self._log_unrecorded(job, failure)
            return
        if recorded is None:
            self._count_lease_lost(job, duration_s)
            return
        headline = error.split("\n", 1)[0]
        fields = _fields(job, duration_s)
        if recorded.retry_at is None:
            JOBS_FINISHED.labels(kind=job.kind, outcome=JobOutcome.DEAD).inc()
            event = "job_dead"
        else:
            JOBS_FINISHED.labels(kind=job.kind, outcome=JobOutcome.FAILED).inc()
            fields["retry_at"] = recorded.retry_at.isoformat()
            event = "job_failed"
        if exc is None:  # no handler for the kind: nothing raised, nothing to trace
            log.error(event, **fields, error=headline)
        elif recorded.retry_at is not None and isinstance(exc, _EXPECTED_FAILURES):
            # A failure the code anticipates (the POS is down, a handler ran out of time) that
            # a retry may cure: worth a warning, not an error.
            log.warning(event, **fields, error=headline, exc_info=exc)
        else:
            log_unexpected(log, event, exc, **fields, error=headline)

    def _count_lease_lost(self, job: ClaimedJob, duration_s: float) -> None:
        JOBS_FINISHED.labels(kind=job.kind, outcome=JobOutcome.LEASE_LOST).inc()
        log.warning("job_lease_lost", **_fields(job, duration_s), worker_id=self.worker_id)

    def _log_unrecorded(self, job: ClaimedJob, failure: Exception) -> None:
        # The lease will expire and the job run again: at-least-once, never lost.
        log_unexpected(
            log, "job_outcome_not_recorded", failure, **_fields(job), worker_id=self.worker_id
        )


# Raised by handlers for conditions they know of; anything else is a bug or a surprise.
_EXPECTED_FAILURES = (RidgelineError, HandlerTimedOut)


def _job_context(job: ClaimedJob) -> dict[str, object]:
    context = _fields(job)
    for name in CONTEXT_FIELDS:
        value = job.payload.get(name)
        if isinstance(value, str):
            context[name] = value
    return context


def _fields(job: ClaimedJob, duration_s: float | None = None) -> dict[str, object]:
    fields: dict[str, object] = {"job_id": str(job.id), "kind": job.kind, "attempt": job.attempt}
    if duration_s is not None:
        fields["duration_ms"] = round(duration_s * 1000, 1)
    return fields
