"""The ASGI application factory. Everything the app needs is built from the Settings passed in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from ridgeline import __version__
from ridgeline.api.middleware import (
    BodyGuardMiddleware,
    DatabaseSessionMiddleware,
    RequestContextMiddleware,
)
from ridgeline.api.schemas import ErrorEnvelope
from ridgeline.auth.endpoints import router as auth_router
from ridgeline.auth.throttle import SignInThrottle
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.catalog.endpoints import router as catalog_router
from ridgeline.catalog.listing import CatalogIndexCache
from ridgeline.clock import Clock, SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.errors import install_error_handlers
from ridgeline.health.endpoints import router as health_router
from ridgeline.jobs import Worker
from ridgeline.jobs.endpoints import router as jobs_router
from ridgeline.notifications.endpoints import router as alerts_router
from ridgeline.orders.endpoints import router as orders_router
from ridgeline.orders.operator_endpoints import router as order_operators_router
from ridgeline.pos.client import PosConnector
from ridgeline.pos.endpoints import router as pos_router
from ridgeline.realtime.activity import KioskActivity, flush_forever
from ridgeline.realtime.backplane import backplane_for
from ridgeline.realtime.cable import cable_endpoint
from ridgeline.realtime.endpoints import router as realtime_router
from ridgeline.realtime.hub import Hub
from ridgeline.realtime.state import cable_state_for
from ridgeline.stores.endpoints import router as stores_router
from ridgeline.sync.endpoints import router as sync_router
from ridgeline.tasks import job_registry, job_schedules, job_services
from ridgeline.webhooks.endpoints import router as webhooks_router
from ridgeline.webhooks.service import WEBHOOK_PATH

log = structlog.get_logger(__name__)

KEY_USAGE_FLUSH_INTERVAL_S = 5.0

_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorEnvelope} for code in ("4XX", "5XX")
}


def create_app(
    settings: Settings, *, database: Database | None = None, clock: Clock | None = None
) -> FastAPI:
    database = database or Database(
        settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    key_usage = KioskKeyUsage()
    clock = clock or SystemClock()
    connector = PosConnector(settings, database, clock)
    hub = Hub(
        database=database,
        backplane=backplane_for(settings.redis_url),
        state=cable_state_for(settings.redis_url),
        clock=clock,
        ping_interval_s=settings.cable_ping_interval_s,
        poll_interval_s=settings.cable_poll_interval_s,
        queue_max=settings.cable_send_queue_max,
        session_ttl_s=settings.cable_session_ttl_s,
    )
    kiosk_activity = KioskActivity(clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(database.dispose)
            stack.push_async_callback(connector.aclose)
            stack.push_async_callback(key_usage.flush, database)
            flusher = asyncio.create_task(_flush_key_usage(key_usage, database))
            stack.callback(flusher.cancel)
            await hub.start()
            stack.push_async_callback(kiosk_activity.flush, database)
            stack.push_async_callback(hub.stop)  # before the activity flush above: LIFO
            activity_flusher = asyncio.create_task(flush_forever(kiosk_activity, database))
            stack.callback(activity_flusher.cancel)
            if settings.worker_in_process:
                await stack.enter_async_context(
                    _embedded_worker(settings, database, connector, clock)
                )
            log.info("app_started", version=__version__, database=database.dialect_name)
            yield
            log.info("app_stopping")

    app = FastAPI(
        title="Ridgeline",
        version=__version__,
        summary="Backend for in-store retail kiosks.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=_ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock
    app.state.pos_connector = connector
    app.state.kiosk_key_usage = key_usage
    app.state.hub = hub
    app.state.kiosk_activity = kiosk_activity
    app.state.sign_in_throttle = SignInThrottle()
    app.state.catalog_indexes = CatalogIndexCache()

    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(stores_router)
    app.include_router(jobs_router)
    app.include_router(pos_router)
    app.include_router(sync_router)
    app.include_router(catalog_router)
    app.include_router(orders_router)
    app.include_router(order_operators_router)
    app.include_router(alerts_router)
    app.include_router(realtime_router)
    app.add_api_websocket_route("/cable", cable_endpoint)
    app.include_router(webhooks_router)

    # Added innermost first.
    app.add_middleware(DatabaseSessionMiddleware, database=database)
    # A POS may label its JSON webhook bodies otherwise: any media type, still size-limited.
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        raw_body_prefixes=(WEBHOOK_PATH + "/",),
    )
    app.add_middleware(RequestContextMiddleware)
    return app


@contextlib.asynccontextmanager
async def _embedded_worker(
    settings: Settings, database: Database, connector: PosConnector, clock: Clock
) -> AsyncIterator[None]:
    """Embedded mode: one worker loop inside the API process, drained on shutdown."""
    worker = Worker.from_settings(
        settings,
        database,
        job_registry(),
        schedules=job_schedules(settings),
        services=job_services(connector),
        clock=clock,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def _flush_key_usage(usage: KioskKeyUsage, database: Database) -> None:
    while True:
        await asyncio.sleep(KEY_USAGE_FLUSH_INTERVAL_S)
        try:
            await usage.flush(database)
        except Exception:
            log.exception("kiosk_key_usage_flush_failed")
