"""The ASGI application factory. Everything the app needs is built from the Settings passed in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import Depends, FastAPI

from ridgeline import __version__
from ridgeline.alerts.channel_endpoints import router as alert_channels_router
from ridgeline.alerts.config_endpoints import router as alert_config_router
from ridgeline.alerts.endpoints import router as alerts_router
from ridgeline.api.error_docs import document_errors
from ridgeline.api.hygiene import (
    AllowedHostsMiddleware,
    CorsMiddleware,
    SecurityHeadersMiddleware,
)
from ridgeline.api.middleware import (
    BodyGuardMiddleware,
    DatabaseSessionMiddleware,
    RequestContextMiddleware,
)
from ridgeline.api.rate_limits import RateLimitHeadersMiddleware, document_rate_limits
from ridgeline.api.schemas import ErrorEnvelope
from ridgeline.audit.endpoints import router as audit_router
from ridgeline.auth.dependencies import limit_public_routes
from ridgeline.auth.endpoints import router as auth_router
from ridgeline.catalog.endpoints import router as catalog_router
from ridgeline.clock import Clock
from ridgeline.compliance.endpoints import router as compliance_router
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.errors import install_error_handlers
from ridgeline.health.endpoints import router as health_router
from ridgeline.jobs import Worker
from ridgeline.jobs.endpoints import router as jobs_router
from ridgeline.monitoring.endpoints import router as system_router
from ridgeline.monitoring.performance import PerformanceMonitor
from ridgeline.orders.endpoints import router as orders_router
from ridgeline.pos.client import PosConnector
from ridgeline.pos.endpoints import router as pos_router
from ridgeline.realtime.cable import CableRoute, cable_endpoint
from ridgeline.realtime.endpoints import router as realtime_router
from ridgeline.services import Services
from ridgeline.status.endpoints import router as status_router
from ridgeline.status.page import router as status_page_router
from ridgeline.status.statuspage import router as statuspage_router
from ridgeline.stores.endpoints import router as stores_router
from ridgeline.sync.endpoints import router as sync_router
from ridgeline.tasks import job_registry, job_schedules, job_services
from ridgeline.web.console import router as console_router
from ridgeline.web.kiosk import router as kiosk_page_router
from ridgeline.web.pages import router as web_pages_router
from ridgeline.webhooks.endpoints import router as webhooks_router
from ridgeline.webhooks.service import WEBHOOK_PATH

log = structlog.get_logger(__name__)

_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorEnvelope} for code in ("4XX", "5XX")
}


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    pos_connector: PosConnector | None = None,
) -> FastAPI:
    """The API with its services built from `settings`; a test passes the collaborators it
    holds itself (a database, a fake clock, a connector with its own HTTP client)."""
    services = Services.build(settings, database=database, clock=clock, pos_connector=pos_connector)
    # One per process: in embedded mode the worker runs here too, and shares it.
    monitor = PerformanceMonitor(
        services.database,
        services.clock,
        "embedded" if settings.worker_in_process else "api",
        hub=services.hub,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(services.running())
            if settings.performance_monitor:
                await stack.enter_async_context(monitor.running())
            if settings.worker_in_process:
                await stack.enter_async_context(_embedded_worker(services))
            log.info("app_started", version=__version__, database=services.database.dialect_name)
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
        # Public routes' rate limits; routes with a caller are counted when it is authenticated.
        dependencies=[Depends(limit_public_routes)],
    )
    app.state.services = services  # read only by `app_services` and the API's dependencies

    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(stores_router)
    app.include_router(jobs_router)
    app.include_router(system_router)
    app.include_router(pos_router)
    app.include_router(sync_router)
    app.include_router(catalog_router)
    app.include_router(orders_router)
    app.include_router(compliance_router)
    app.include_router(alerts_router)
    app.include_router(alert_channels_router)
    app.include_router(alert_config_router)
    app.include_router(realtime_router)
    app.include_router(status_router)
    app.include_router(statuspage_router)
    app.include_router(status_page_router)
    app.include_router(web_pages_router)
    app.include_router(console_router)
    app.include_router(kiosk_page_router)
    app.add_api_websocket_route("/cable", cable_endpoint)
    app.include_router(webhooks_router)
    app.include_router(audit_router)
    document_rate_limits(app)
    document_errors(app)

    # Added innermost first.
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(DatabaseSessionMiddleware, database=services.database)
    # A POS may label its JSON webhook bodies otherwise: any media type, still size-limited.
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        raw_body_prefixes=(WEBHOOK_PATH + "/",),
    )
    if settings.cors_allowed_origins:
        app.add_middleware(CorsMiddleware, origins=settings.cors_allowed_origins)
    # `/cable` sockets leave the stack here, after the host check (realtime/cable.py).
    app.add_middleware(CableRoute, services=services)
    if "*" not in settings.allowed_hosts:
        app.add_middleware(AllowedHostsMiddleware, hosts=settings.allowed_hosts)
    app.add_middleware(
        RequestContextMiddleware, monitor=monitor if settings.performance_monitor else None
    )
    # Outermost: every answer gets the headers, the last-resort 500 included.
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def app_services(app: FastAPI) -> Services:
    """The services an app made by `create_app` runs on (for the server process and tests)."""
    services: Services = app.state.services
    return services


@contextlib.asynccontextmanager
async def _embedded_worker(services: Services) -> AsyncIterator[None]:
    """Embedded mode: one worker loop inside the API process, drained on shutdown."""
    worker = Worker.from_settings(
        services.settings,
        services.database,
        job_registry(),
        schedules=job_schedules(services.settings),
        services=job_services(services.pos_connector),
        clock=services.clock,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task
