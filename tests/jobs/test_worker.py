from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY

from ridgeline.clock import Clock, FakeClock, SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import (
    JobContext,
    JobRegistry,
    JobServices,
    PermanentFailure,
    RetryLater,
    Schedule,
    ServiceKey,
    Worker,
    claim,
    enqueue,
)
from ridgeline.jobs import worker as worker_module
from ridgeline.models.job import JobStatus
from tests.jobs.factories import add_job, add_jobs, count_jobs, load_job
from tests.waiting import wait_until

Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


def registry_of(**handlers: Handler) -> JobRegistry:
    registry = JobRegistry()
    for kind, handler in handlers.items():
        registry.register(kind.replace("_", "."), handler)
    return registry


def make_worker(
    database: Database,
    registry: JobRegistry,
    clock: Clock,
    *,
    concurrency: int = 2,
    lease_s: float = 30.0,
    shutdown_grace_s: float = 1.0,
    **options: Any,
) -> Worker:
    return Worker(
        database,
        registry,
        clock=clock,
        rng=random.Random(99),
        worker_id=options.pop("worker_id", "test-worker"),
        concurrency=concurrency,
        lease_s=lease_s,
        poll_interval_s=0.01,
        shutdown_grace_s=shutdown_grace_s,
        **options,
    )


def finished_count(kind: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "ridgeline_jobs_finished_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


async def test_a_handler_gets_its_context_and_payload(database: Database, clock: FakeClock) -> None:
    seen: list[tuple[JobContext, dict[str, Any]]] = []
    greeting = ServiceKey[str]("greeting")
    services = JobServices()
    services.provide(greeting, "hello")

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        assert ctx.services.get(greeting) == "hello"
        seen.append((ctx, payload))

    job_id = await add_job(database, "test.ctx", {"store": "s1"}, clock=clock, max_attempts=4)
    worker = make_worker(database, registry_of(test_ctx=handle), clock, services=services)
    before = finished_count("test.ctx", "succeeded")

    assert await worker.run_until_idle() == 1

    [(ctx, payload)] = seen
    assert payload == {"store": "s1"}
    assert (ctx.job_id, ctx.kind, ctx.attempt, ctx.max_attempts) == (job_id, "test.ctx", 1, 4)
    assert (ctx.database, ctx.clock, ctx.worker_id) == (database, clock, "test-worker")
    assert ctx.enqueued_at == clock.now()
    stored = await load_job(database, job_id)
    assert (stored.status, stored.finished_at) == (JobStatus.SUCCEEDED, clock.now())
    assert finished_count("test.ctx", "succeeded") == before + 1


async def test_an_unknown_kind_goes_dead_and_the_worker_carries_on(
    database: Database, clock: FakeClock
) -> None:
    ran: list[uuid.UUID] = []

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran.append(ctx.job_id)

    unknown = await add_job(database, "test.nobody_handles_this", clock=clock)
    known = await add_job(database, "test.known", clock=clock)

    assert await make_worker(database, registry_of(test_known=handle), clock).run_until_idle() == 2

    stored = await load_job(database, unknown)
    assert stored.status == JobStatus.DEAD
    assert stored.last_error == "no handler is registered for job kind 'test.nobody_handles_this'"
    assert ran == [known]


async def test_a_failing_handler_is_retried_with_backoff_then_dead(
    database: Database, clock: FakeClock
) -> None:
    attempts: list[int] = []

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        raise ValueError(f"POS said no to attempt {ctx.attempt}")

    job_id = await add_job(database, "test.flaky", clock=clock, max_attempts=3)
    worker = make_worker(database, registry_of(test_flaky=handle), clock)

    assert await worker.run_until_idle() == 1
    stored = await load_job(database, job_id)
    assert stored.status == JobStatus.FAILED
    assert stored.run_at > clock.now() - timedelta(seconds=1)
    for _ in range(2):
        clock.advance(3600)
        assert await worker.run_until_idle() == 1

    assert attempts == [1, 2, 3]
    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts) == (JobStatus.DEAD, 3)
    assert stored.last_error is not None
    assert stored.last_error.startswith("ValueError: POS said no to attempt 3\n")
    assert "Traceback" in stored.last_error


async def test_retry_later_defers_without_using_an_attempt(
    database: Database, clock: FakeClock
) -> None:
    attempts: list[int] = []

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        if len(attempts) < 3:
            raise RetryLater(120, "circuit open")

    job_id = await add_job(database, "test.deferred", clock=clock, max_attempts=1)
    worker = make_worker(database, registry_of(test_deferred=handle), clock)

    assert await worker.run_until_idle() == 1
    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts) == (JobStatus.QUEUED, 0)
    assert stored.run_at == clock.now() + timedelta(seconds=120)
    assert await worker.run_until_idle() == 0
    for _ in range(2):
        clock.advance(120)
        assert await worker.run_until_idle() == 1

    assert attempts == [1, 1, 1]
    assert (await load_job(database, job_id)).status == JobStatus.SUCCEEDED


async def test_a_permanent_failure_is_dead_on_the_first_attempt(
    database: Database, clock: FakeClock
) -> None:
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise PermanentFailure("the POS rejected this order")

    job_id = await add_job(database, "test.rejected", clock=clock, max_attempts=10)
    await make_worker(database, registry_of(test_rejected=handle), clock).run_until_idle()

    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts) == (JobStatus.DEAD, 1)
    assert stored.last_error is not None
    assert stored.last_error.startswith("PermanentFailure: the POS rejected this order")


async def test_a_handler_past_its_timeout_fails(database: Database, clock: FakeClock) -> None:
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(10)

    registry = JobRegistry()
    registry.register("test.hangs", handle, timeout_s=0.05)
    job_id = await add_job(database, "test.hangs", clock=clock)
    await make_worker(database, registry, clock).run_until_idle()

    stored = await load_job(database, job_id)
    assert stored.status == JobStatus.FAILED
    assert stored.last_error is not None
    assert stored.last_error.startswith(
        "HandlerTimedOut: handler for 'test.hangs' timed out after 0.05 s"
    )


async def test_the_lease_is_extended_while_the_handler_runs(database: Database) -> None:
    clock = SystemClock()
    stolen: list[object] = []

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        # Twice the lease: without heartbeats another worker would take the job meanwhile.
        for _ in range(10):
            await asyncio.sleep(0.1)
            stolen.extend(await claim(database, worker_id="thief", limit=1, lease_s=1, clock=clock))

    job_id = await add_job(database, "test.long", clock=clock)
    worker = make_worker(database, registry_of(test_long=handle), clock, lease_s=0.45)
    await worker.run_until_idle()

    assert stolen == []
    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts) == (JobStatus.SUCCEEDED, 1)


async def test_a_worker_that_lost_its_lease_cancels_the_handler_and_records_nothing(
    database: Database, clock: FakeClock
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job_id = await add_job(database, "test.stalled", clock=clock)
    worker = make_worker(database, registry_of(test_stalled=handle), clock, lease_s=0.15)
    before = finished_count("test.stalled", "lease_lost")
    running = asyncio.create_task(worker.run_until_idle())
    try:
        await asyncio.wait_for(started.wait(), 5)
        # Another worker whose clock is past the lease takes the job over.
        later = FakeClock(clock.now() + timedelta(seconds=60))
        [taken] = await claim(database, worker_id="other", limit=1, lease_s=600, clock=later)
        await asyncio.wait_for(cancelled.wait(), 5)
        assert await asyncio.wait_for(running, 5) == 1
    finally:
        running.cancel()

    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts) == (JobStatus.RUNNING, 2)
    assert (stored.locked_by, stored.lease_token) == ("other", taken.lease_token)
    assert finished_count("test.stalled", "lease_lost") == before + 1


async def test_on_stop_unfinished_jobs_are_given_back_at_once(
    database: Database, clock: FakeClock
) -> None:
    started = asyncio.Event()

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    job_id = await add_job(database, "test.forever", clock=clock)
    worker = make_worker(
        database, registry_of(test_forever=handle), clock, shutdown_grace_s=0.05, lease_s=30
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(started.wait(), 5)
        stop.set()
        await asyncio.wait_for(running, 5)
    finally:
        running.cancel()

    stored = await load_job(database, job_id)
    assert (stored.status, stored.attempts, stored.lease_token) == (JobStatus.QUEUED, 0, None)
    # Another worker takes it at once (its attempt was given back), not after the lease.
    [reclaimed] = await claim(database, worker_id="next", limit=1, lease_s=30, clock=clock)
    assert (reclaimed.id, reclaimed.attempt) == (job_id, 1)


async def test_on_stop_running_jobs_finish_within_the_grace(
    database: Database, clock: FakeClock
) -> None:
    started = asyncio.Event()

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(0.1)

    job_id = await add_job(database, "test.short", clock=clock)
    await add_job(database, "test.short", clock=clock)
    worker = make_worker(
        database, registry_of(test_short=handle), clock, concurrency=1, shutdown_grace_s=5
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(started.wait(), 5)
        stop.set()
        await asyncio.wait_for(running, 5)
    finally:
        running.cancel()

    assert (await load_job(database, job_id)).status == JobStatus.SUCCEEDED
    # Nothing new was claimed after stop.
    assert await count_jobs(database, JobStatus.QUEUED) == 1


async def test_run_picks_up_jobs_enqueued_while_it_polls(
    database: Database, clock: FakeClock
) -> None:
    done = asyncio.Event()

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        done.set()

    worker = make_worker(database, registry_of(test_later=handle), clock)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.05)
        job_id = await add_job(database, "test.later", clock=clock)
        await asyncio.wait_for(done.wait(), 5)

        async def succeeded() -> bool:
            return (await load_job(database, job_id)).status == JobStatus.SUCCEEDED

        await wait_until(succeeded)
        stop.set()
        await asyncio.wait_for(running, 5)
    finally:
        running.cancel()


async def test_concurrency_bounds_the_jobs_running_at_once(
    database: Database, clock: FakeClock
) -> None:
    running = 0
    most = 0

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1

    async with database.transaction() as session:
        for n in range(7):  # urgent ones may use every slot; routine ones all but one
            await enqueue(session, "test.busy", {}, clock=clock, priority=-1 if n % 2 else 0)
    worker = make_worker(database, registry_of(test_busy=handle), clock, concurrency=3)

    assert await worker.run_until_idle() == 7
    assert most == 3
    assert await count_jobs(database, JobStatus.SUCCEEDED) == 7


async def test_workers_in_one_process_run_each_job_exactly_once(
    database: Database, settings: Settings
) -> None:
    clock = SystemClock()
    runs: list[tuple[uuid.UUID, str]] = []

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs.append((ctx.job_id, ctx.worker_id))
        await asyncio.sleep(0.001)

    job_ids = await add_jobs(database, 200, "test.race", {}, clock=clock)
    registry = registry_of(test_race=handle)
    databases = [Database(settings.database_url) for _ in range(4)]
    try:
        workers = [
            make_worker(db, registry, clock, concurrency=4, worker_id=f"w{n}")
            for n, db in enumerate(databases)
        ]
        processed = await asyncio.gather(*(worker.run_until_idle() for worker in workers))
    finally:
        for db in databases:
            await db.dispose()

    assert sum(processed) == 200
    assert Counter(job_id for job_id, _ in runs) == dict.fromkeys(job_ids, 1)
    assert len({worker_id for _, worker_id in runs}) > 1
    assert await count_jobs(database, JobStatus.SUCCEEDED) == 200


async def test_the_worker_enqueues_due_schedules(database: Database, clock: FakeClock) -> None:
    ticks: list[dict[str, Any]] = []

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        ticks.append(payload)

    worker = make_worker(
        database,
        registry_of(test_tick=handle),
        clock,
        schedules=[Schedule("test.tick", every_s=60, payload={"n": 1})],
    )
    assert await worker.run_until_idle() == 1
    assert await worker.run_until_idle() == 0
    clock.advance(60)
    assert await worker.run_until_idle() == 1
    assert ticks == [{"n": 1}, {"n": 1}]


def test_a_worker_can_be_built_from_settings(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"worker_concurrency": 7, "job_lease_s": 12.0, "job_poll_interval_s": 0.5}
    )
    database = Database(settings.database_url)
    worker = Worker.from_settings(settings, database, JobRegistry(), worker_id="cli")
    assert (worker.concurrency, worker.lease_s, worker.poll_interval_s, worker.worker_id) == (
        7,
        12.0,
        0.5,
        "cli",
    )


async def test_outcomes_are_logged_as_structured_events(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        if payload["fail"]:
            raise RuntimeError("boom")

    ok = await add_job(database, "test.logged", {"fail": False}, clock=clock)
    bad = await add_job(database, "test.logged", {"fail": True}, clock=clock, max_attempts=1)
    with structlog.testing.capture_logs() as logs:
        # A fresh logger: the module's own may be cached with the process's configuration,
        # which capture_logs cannot redirect.
        monkeypatch.setattr(worker_module, "log", structlog.get_logger(worker_module.__name__))
        await make_worker(database, registry_of(test_logged=handle), clock).run_until_idle()

    by_event = {entry["event"]: entry for entry in logs if entry["event"].startswith("job_")}
    succeeded = by_event["job_succeeded"]
    assert (succeeded["job_id"], succeeded["kind"], succeeded["attempt"]) == (
        str(ok),
        "test.logged",
        1,
    )
    assert isinstance(succeeded["duration_ms"], float)
    dead = by_event["job_dead"]
    assert (dead["job_id"], dead["error"], dead["log_level"]) == (
        str(bad),
        "RuntimeError: boom",
        "error",
    )


async def enqueue_then_fail(database: Database, clock: Clock) -> None:
    try:
        async with database.transaction() as session:
            await enqueue(session, "probe.note", {"name": "rolled back"}, clock=clock)
            raise RuntimeError("the request failed")
    except RuntimeError:
        return
    raise AssertionError("the transaction did not fail")


async def test_a_job_committed_in_this_process_wakes_the_worker_before_its_poll(
    database: Database,
) -> None:
    """With a poll a minute apart, a job enqueued here runs at once; one whose transaction
    rolled back wakes nobody (and is not there to run)."""
    ran: list[str] = []

    async def note(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran.append(payload["name"])

    clock = SystemClock()
    worker = Worker(
        database,
        registry_of(probe_note=note),
        clock=clock,
        rng=random.Random(1),
        poll_interval_s=60.0,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.2)  # past its first poll: asleep for a minute
        await enqueue_then_fail(database, clock)
        async with database.transaction() as session:
            await enqueue(session, "probe.note", {"name": "committed"}, clock=clock)

        async def ran_it() -> bool:
            return bool(ran)

        await wait_until(ran_it, timeout_s=5.0)
        assert ran == ["committed"]
    finally:
        stop.set()
        await running
    assert worker.wake not in database.job_listeners


async def test_routine_work_never_takes_the_slot_kept_for_urgent_jobs(
    database: Database, clock: FakeClock
) -> None:
    """With every other slot busy with routine jobs (status polls, syncs) and more of them
    waiting, an urgent job (a kiosk's order: priority below 0) still starts at once."""
    release = asyncio.Event()
    started: list[str] = []

    async def routine(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.append("routine")
        await release.wait()

    async def urgent(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.append("urgent")

    for _ in range(4):
        await add_job(database, "test.routine", clock=clock)
    worker = make_worker(
        database, registry_of(test_routine=routine, test_urgent=urgent), clock, concurrency=3
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:

        async def two_routines_run() -> bool:
            return started.count("routine") == 2

        await wait_until(two_routines_run)
        await add_job(database, "test.urgent", clock=clock, priority=-1)

        async def urgent_ran() -> bool:
            return "urgent" in started

        await wait_until(urgent_ran)
        # The third slot went to the urgent job, not to the routine ones still waiting.
        assert started == ["routine", "routine", "urgent"]
        assert await count_jobs(database, JobStatus.QUEUED) == 2
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(running, 10)
