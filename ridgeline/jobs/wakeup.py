"""Waking workers in every process when a job falls due, without waiting for their poll.

On PostgreSQL, `enqueue` sends `NOTIFY ridgeline_jobs` (`queue.notify_job_due`) in the
transaction that inserts a job due now. PostgreSQL delivers a notification only when that
transaction commits (never for a rollback) and folds repeats within one transaction into one, so
a listener hears "a job is due" exactly when a claim can find it. Each worker keeps one extra
connection that `LISTEN`s and wakes its loop.

A notification is only a hint. The worker's poll (`RIDGELINE_JOB_POLL_INTERVAL_S`) stays as the
safety net: a listener that lost its connection reconnects with backoff, and on each (re)connect
wakes the worker once, since notifications sent while it was away are gone. SQLite has one process
and no notifications: there the commit hook of `db.engine` wakes the worker of the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable

import psycopg
import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy.engine import make_url

log = structlog.get_logger(__name__)

CHANNEL = "ridgeline_jobs"
RECONNECT_BASE_S = 0.2
RECONNECT_CAP_S = 5.0
# How long one wait for notifications lasts before the listener checks its connection is alive.
_NOTIFY_WAIT_S = 30.0

JOB_NOTICES = Counter(
    "ridgeline_job_notices",
    "Job-due notifications this worker heard from PostgreSQL (each wakes its claim loop).",
)
JOB_LISTENER_CONNECTED = Gauge(
    "ridgeline_job_listener_connected",
    "1 while this worker listens for job-due notifications on PostgreSQL, else 0 (it then "
    "finds new jobs at its poll interval only).",
)


def listen_url(database_url: str) -> str:
    """A libpq connection string for the application's SQLAlchemy URL."""
    parsed = make_url(database_url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def listening(database_url: str, wake: Callable[[], None]) -> AsyncIterator[None]:
    """Calls `wake` for every job-due notification while the block runs."""
    task = asyncio.create_task(_listen_forever(listen_url(database_url), wake), name="job-listen")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        JOB_LISTENER_CONNECTED.set(0)


async def _listen_forever(conninfo: str, wake: Callable[[], None]) -> None:
    attempt = 0
    while True:
        try:
            connection = await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, connect_timeout=5
            )
            async with connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                JOB_LISTENER_CONNECTED.set(1)
                if attempt:
                    log.info("job_listener_reconnected")
                attempt = 0
                wake()  # whatever was announced while this listener was away
                while True:
                    async for _ in connection.notifies(timeout=_NOTIFY_WAIT_S):
                        JOB_NOTICES.inc()
                        wake()
                    await connection.execute("SELECT 1")  # a dead connection raises here
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            JOB_LISTENER_CONNECTED.set(0)
            attempt += 1
            delay = random.uniform(0, min(RECONNECT_CAP_S, RECONNECT_BASE_S * 2**attempt))  # noqa: S311
            log.warning("job_listener_disconnected", error=str(exc), retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
