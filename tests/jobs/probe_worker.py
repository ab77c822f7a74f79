"""A real `Worker` in its own OS process, for the race, crash and restart tests.

    python -m tests.jobs.probe_worker DATABASE_URL [--concurrency N] [--lease-s S] [--poll-s S]
                                                   [--log-file PATH]

It prints "ready" on stdout once it reached the database, then works until SIGTERM (a graceful
stop) or SIGKILL (a crash). Its handlers write to the `job_probe` table the test created, so the
test can count how many times each job ran and in which process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text

from ridgeline.clock import SystemClock
from ridgeline.db.engine import Database
from ridgeline.jobs import JobContext, JobRegistry, Worker

CREATE_PROBE_TABLE = (
    "CREATE TABLE job_probe ("
    " job_id VARCHAR(36) NOT NULL,"
    " worker_id VARCHAR(200) NOT NULL,"
    " pid INTEGER NOT NULL,"
    " event VARCHAR(16) NOT NULL)"
)
DROP_PROBE_TABLE = "DROP TABLE IF EXISTS job_probe"

RECORD_KIND = "probe.record"  # payload: {"sleep_s": float}, then writes "ran"
SLOW_FIRST_KIND = "probe.slow_first"  # payload: {"first_attempt_s": float}


async def write_probe(ctx: JobContext, event: str) -> None:
    async with ctx.database.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO job_probe (job_id, worker_id, pid, event)"
                " VALUES (:job_id, :worker_id, :pid, :event)"
            ),
            {
                "job_id": str(ctx.job_id),
                "worker_id": ctx.worker_id,
                "pid": os.getpid(),
                "event": event,
            },
        )


async def record_run(ctx: JobContext, payload: dict[str, Any]) -> None:
    sleep_s = float(payload.get("sleep_s", 0))
    if sleep_s:
        await asyncio.sleep(sleep_s)
    await write_probe(ctx, "ran")


async def slow_on_first_attempt(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Hangs on attempt 1 (long enough to be killed), finishes at once on later attempts."""
    await write_probe(ctx, "started")
    if ctx.attempt == 1:
        await asyncio.sleep(float(payload["first_attempt_s"]))
    await write_probe(ctx, "finished")


def probe_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.register(RECORD_KIND, record_run)
    registry.register(SLOW_FIRST_KIND, slow_on_first_attempt)
    return registry


async def serve(url: str, *, concurrency: int, lease_s: float, poll_s: float) -> None:
    database = Database(url)
    worker = Worker(
        database,
        probe_registry(),
        clock=SystemClock(),
        rng=random.Random(os.getpid()),
        concurrency=concurrency,
        lease_s=lease_s,
        poll_interval_s=poll_s,
        shutdown_grace_s=5.0,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with database.transaction(write=False) as session:
        await session.execute(text("SELECT 1"))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        await worker.run(stop)
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease-s", type=float, default=30.0)
    parser.add_argument("--poll-s", type=float, default=0.02)
    parser.add_argument("--log-file", type=Path, default=None)
    args = parser.parse_args(argv)
    # stdout carries only the "ready" line; logs go to a file (or stderr) for debugging.
    with contextlib.ExitStack() as stack:
        log_stream = stack.enter_context(args.log_file.open("a")) if args.log_file else sys.stderr
        logging.basicConfig(stream=log_stream, level=logging.INFO)
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.PrintLoggerFactory(log_stream),
        )
        asyncio.run(
            serve(
                args.database_url,
                concurrency=args.concurrency,
                lease_s=args.lease_s,
                poll_s=args.poll_s,
            )
        )


if __name__ == "__main__":
    main()
