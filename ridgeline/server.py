"""Process entry points: the API server (with the embedded worker) and the standalone worker."""

from __future__ import annotations

import asyncio
import signal

import structlog
import uvicorn

from ridgeline.app import create_app
from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.pos.client import PosConnector
from ridgeline.tasks import job_registry, job_schedules, job_services

log = structlog.get_logger(__name__)


def run_server(settings: Settings, *, host: str, port: int) -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # our logging set-up already routes uvicorn's loggers
        access_log=False,
        proxy_headers=True,
        ws_per_message_deflate=False,
        lifespan="on",
    )
    uvicorn.Server(config).run()


async def run_worker(settings: Settings, *, burst: bool, concurrency: int | None) -> None:
    database = Database(
        settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    if concurrency is not None:
        settings = settings.model_copy(update={"worker_concurrency": concurrency})
    connector = PosConnector(settings, database, SystemClock())
    worker = Worker.from_settings(
        settings,
        database,
        job_registry(),
        schedules=job_schedules(),
        services=job_services(connector),
    )
    try:
        if burst:
            done = await worker.run_until_idle()
            log.info("worker_burst_finished", jobs=done)
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await worker.run(stop)
    finally:
        await connector.aclose()
        await database.dispose()
