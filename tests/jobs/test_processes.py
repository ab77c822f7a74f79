"""Workers in separate OS processes racing, crashing and restarting over one jobs table."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.jobs.queue import LEASE_EXPIRED
from ridgeline.models.job import Job, JobStatus
from tests.jobs.factories import add_job, add_jobs, count_jobs, load_job
from tests.jobs.probe_worker import RECORD_KIND, SLOW_FIRST_KIND, probe_registry
from tests.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0


@asynccontextmanager
async def probe_workers(
    database_url: str,
    log_dir: Path,
    *,
    count: int,
    concurrency: int = 4,
    lease_s: float = 30.0,
    poll_s: float = 0.02,
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """`count` worker processes, started together and ready; killed on the way out whatever
    happened."""
    processes: list[asyncio.subprocess.Process] = []
    try:
        for n in range(count):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.jobs.probe_worker",
                database_url,
                f"--concurrency={concurrency}",
                f"--lease-s={lease_s}",
                f"--poll-s={poll_s}",
                f"--log-file={log_dir / f'probe-worker-{n}.log'}",
                cwd=REPO_ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT_S)
            assert ready == b"ready\n", f"a probe worker failed to start; see {log_dir}"
        yield processes
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def stop_gracefully(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 15)


async def probe_rows(database: Database) -> list[tuple[uuid.UUID, str, int, str]]:
    async with database.transaction(write=False) as session:
        rows = await session.execute(text("SELECT job_id, worker_id, pid, event FROM job_probe"))
        return [
            (uuid.UUID(job_id), worker_id, pid, event) for job_id, worker_id, pid, event in rows
        ]


def local_worker(
    database: Database, worker_id: str, *, lease_s: float = 30.0, poll_s: float = 0.02
) -> Worker:
    return Worker(
        database,
        probe_registry(),
        clock=SystemClock(),
        rng=random.Random(5),
        worker_id=worker_id,
        concurrency=4,
        lease_s=lease_s,
        poll_interval_s=poll_s,
    )


async def test_processes_and_local_workers_run_each_job_exactly_once(
    database: Database, settings: Settings, probe_table: str, tmp_path: Path
) -> None:
    url = settings.database_url
    async with probe_workers(url, tmp_path, count=2) as processes:
        local_databases = [Database(url) for _ in range(2)]
        stop = asyncio.Event()
        local = [
            asyncio.create_task(local_worker(db, f"local-{n}").run(stop))
            for n, db in enumerate(local_databases)
        ]
        try:
            job_ids = await add_jobs(
                database, 200, RECORD_KIND, {"sleep_s": 0.002}, clock=SystemClock()
            )

            async def all_succeeded() -> bool:
                return await count_jobs(database, JobStatus.SUCCEEDED) == 200

            await wait_until(all_succeeded)
        finally:
            stop.set()
            await asyncio.gather(*local)
            for db in local_databases:
                await db.dispose()
        assert [await stop_gracefully(process) for process in processes] == [0, 0]

    rows = await probe_rows(database)
    assert Counter(job_id for job_id, *_ in rows) == dict.fromkeys(job_ids, 1)
    pids = Counter(pid for _, _, pid, _ in rows)
    assert {process.pid for process in processes} <= set(pids), pids
    async with database.transaction(write=False) as session:
        attempts = set((await session.scalars(select(Job.attempts).distinct())).all())
    assert attempts == {1}


async def test_a_killed_workers_job_is_reclaimed_and_completed_once(
    database: Database, settings: Settings, probe_table: str, tmp_path: Path
) -> None:
    job_id = await add_job(database, SLOW_FIRST_KIND, {"first_attempt_s": 120}, clock=SystemClock())
    async with probe_workers(settings.database_url, tmp_path, count=1, lease_s=1.0) as [process]:

        async def started() -> bool:
            return any(event == "started" for *_, event in await probe_rows(database))

        await wait_until(started)
        process.kill()
        await process.wait()

    reclaimer = local_worker(database, "reclaimer", lease_s=1.0)

    async def reclaimed_and_done() -> bool:
        await reclaimer.run_until_idle()
        return (await load_job(database, job_id)).status == JobStatus.SUCCEEDED

    await wait_until(reclaimed_and_done, timeout_s=15)

    job = await load_job(database, job_id)
    assert (job.status, job.attempts, job.locked_by) == (JobStatus.SUCCEEDED, 2, "reclaimer")
    assert job.last_error == LEASE_EXPIRED
    events = sorted((pid, event) for _, _, pid, event in await probe_rows(database))
    assert events == sorted(
        [(process.pid, "started"), (os.getpid(), "started"), (os.getpid(), "finished")]
    )


async def test_jobs_survive_a_worker_killed_midway_and_a_restart(
    database: Database, settings: Settings, probe_table: str, tmp_path: Path
) -> None:
    total = 60
    job_ids = await add_jobs(database, total, RECORD_KIND, {"sleep_s": 0.05}, clock=SystemClock())
    async with probe_workers(
        settings.database_url, tmp_path, count=1, concurrency=2, lease_s=1.0
    ) as [process]:

        async def some_ran() -> bool:
            return len(await probe_rows(database)) >= 10

        await wait_until(some_ran)
        process.kill()
        await process.wait()
    assert await count_jobs(database, JobStatus.SUCCEEDED) < total

    restarted = local_worker(database, "restarted", lease_s=1.0)

    async def all_succeeded() -> bool:
        await restarted.run_until_idle()
        return await count_jobs(database, JobStatus.SUCCEEDED) == total

    await wait_until(all_succeeded, timeout_s=20)

    rows = await probe_rows(database)
    runs = Counter(job_id for job_id, *_ in rows)
    assert set(runs) == set(job_ids)
    assert {process.pid, os.getpid()} <= {pid for _, _, pid, _ in rows}
    async with database.transaction(write=False) as session:
        attempts = dict((await session.execute(select(Job.id, Job.attempts))).all())
    # Only the jobs in flight when the process died ran again: at least once, never lost.
    retried = {job_id for job_id, count in attempts.items() if count > 1}
    assert len(retried) <= 2
    assert all(runs[job_id] == 1 for job_id in set(job_ids) - retried)


async def test_a_job_committed_elsewhere_wakes_a_postgresql_worker_without_its_poll(
    database: Database, settings: Settings, probe_table: str, tmp_path: Path
) -> None:
    """A worker that would poll only once a minute runs a job another process commits within
    seconds: PostgreSQL's NOTIFY on the job's commit wakes it (jobs/wakeup.py)."""
    if not database.is_postgresql:
        pytest.skip("one SQLite process wakes its own worker on commit; NOTIFY is PostgreSQL's")
    async with probe_workers(settings.database_url, tmp_path, count=1, poll_s=60.0) as processes:
        for _ in range(3):  # each after the worker went back to its minute-long wait
            job_ids = await add_jobs(database, 1, RECORD_KIND, {}, clock=SystemClock())

            async def ran(job_ids: list[uuid.UUID] = job_ids) -> bool:
                return {job_id for job_id, *_ in await probe_rows(database)} >= set(job_ids)

            await wait_until(ran, timeout_s=15.0)
        assert [await stop_gracefully(process) for process in processes] == [0]


async def test_a_worker_whose_listening_connection_died_listens_again(
    database: Database, settings: Settings, probe_table: str
) -> None:
    """PostgreSQL closing the listener's connection (a restart, a failover, an idle kill) costs
    the worker its notifications only until the listener reconnects."""
    if not database.is_postgresql:
        pytest.skip("NOTIFY is PostgreSQL's")
    worker_db = Database(settings.database_url)
    stop = asyncio.Event()
    running = asyncio.create_task(local_worker(worker_db, "listener", poll_s=60.0).run(stop))

    async def listeners() -> list[int]:
        async with database.transaction(write=False) as session:
            rows = await session.execute(
                text("SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN ridgeline_jobs'")
            )
            return [pid for (pid,) in rows]

    async def listening() -> bool:
        return len(await listeners()) == 1

    try:
        await wait_until(listening)
        [first] = await listeners()
        async with database.transaction() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

        async def listening_again() -> bool:
            pids = await listeners()
            return len(pids) == 1 and pids[0] != first

        await wait_until(listening_again)
        job_ids = await add_jobs(database, 1, RECORD_KIND, {}, clock=SystemClock())

        async def ran() -> bool:
            return {job_id for job_id, *_ in await probe_rows(database)} >= set(job_ids)

        await wait_until(ran, timeout_s=15.0)
    finally:
        stop.set()
        await running
        await worker_db.dispose()
