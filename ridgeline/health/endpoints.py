"""Process liveness, readiness and the Prometheus scrape endpoint; and store health: each
store's connection state with its evidence, the fleet, pause and resume, thresholds, the
recovery procedure and recovery runs (docs/operations.md#store-health-and-recovery)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Query, Response, status
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from ridgeline import __version__
from ridgeline.api.dependencies import (
    AuditDep,
    ClockDep,
    DatabaseDep,
    HubDep,
    MetricsDep,
    SessionDep,
    SettingsDep,
)
from ridgeline.api.pagination import PageDep, paginate
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.auth.dependencies import (
    PUBLIC,
    KioskDep,
    OrgAdminDep,
    StoreManagerDep,
    ViewerDep,
)
from ridgeline.db.migrate import current_revision, head_revision
from ridgeline.errors import NotReady, RouteNotFound
from ridgeline.health import fleet, reports, repository
from ridgeline.health.recovery import start_recovery
from ridgeline.health.schemas import (
    FleetOverviewPage,
    FleetPage,
    FleetState,
    PauseBody,
    RecoveryProcedure,
    RecoveryRunOut,
    StoreHealthOut,
    StoreStatus,
    ThresholdsUpdate,
)
from ridgeline.health.state import HealthCause, HealthThresholds
from ridgeline.models.health import RecoveryRun, RecoveryTrigger, StoreConnectionState
from ridgeline.stores.service import get_store

router = APIRouter()
log = structlog.get_logger(__name__)


@router.get("/healthz", tags=["health"], openapi_extra=PUBLIC)
async def healthz() -> Envelope[dict[str, str]]:
    """The process is alive (says nothing about its dependencies)."""
    return envelope({"state": "alive", "version": __version__})


@router.get("/readyz", tags=["health"], openapi_extra=PUBLIC)
async def readyz(database: DatabaseDep) -> Envelope[dict[str, Any]]:
    """Ready for traffic: the database answers and its schema is at the latest migration.
    Answers 503 `NOT_READY` with the failing check otherwise."""
    head = head_revision()
    try:
        async with database.engine.connect() as connection:
            await repository.ping(connection)
            current = await current_revision(connection)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("readiness_check_failed", check="database", error=type(exc).__name__)
        raise NotReady(
            "The database is unreachable.",
            details={"database": "unreachable", "error": type(exc).__name__},
        ) from exc
    if current != head:
        raise NotReady(
            "Database migrations are behind; run `ridgeline migrate`.",
            details={"database": "ok", "migrations": {"current": current, "head": head}},
        )
    return envelope(
        {"state": "ready", "database": "ok", "migrations": {"current": current, "head": head}}
    )


@router.get("/metrics", tags=["health"], openapi_extra=PUBLIC, response_class=Response)
async def metrics(
    settings: SettingsDep,
    exposition: MetricsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Prometheus metrics of this process, and the fleet gauges read from the database. With
    `RIDGELINE_METRICS_TOKEN` set the scraper sends it as a bearer token (401 otherwise); with
    `RIDGELINE_METRICS_PORT` set this port does not serve them (404 `ROUTE_NOT_FOUND`): that port
    does (docs/monitoring.md#scraping)."""
    if settings.metrics_port is not None:
        raise RouteNotFound(f"/metrics is served on port {settings.metrics_port}.")
    exposition.check(authorization)
    return Response(await exposition.payload(), media_type=CONTENT_TYPE_LATEST)


# Store health


@router.get("/api/v1/stores/{store_id}/health", tags=["health"])
async def get_store_health(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, clock: ClockDep, hub: HubDep
) -> Envelope[StoreHealthOut]:
    """The store's connection state (`connected`, `degraded`, `error`, `offline`,
    `unconfigured`, `paused`), since when and why, with the evidence: breaker, recent calls and
    the judged window, last syncs, kiosks online, queued orders, open alerts, and the latest
    transitions."""
    connected = await _connected_kiosks(hub, store_id)
    return envelope(
        await reports.store_health(
            session, caller.scope, store_id, now=clock.now(), connected_kiosks=connected
        )
    )


async def _connected_kiosks(hub: Any, store_id: uuid.UUID) -> set[uuid.UUID]:
    try:
        entries = await hub.state.present(str(store_id))
    except Exception:  # presence is a live view; the health answer does not depend on it
        log.exception("presence_read_failed", store_id=str(store_id))
        return set()
    return {uuid.UUID(entry.kiosk_id) for entry in entries}


@router.get("/api/v1/kiosks/me/store-status", tags=["health"])
async def get_kiosk_store_status(
    kiosk: KioskDep, session: SessionDep, clock: ClockDep
) -> Envelope[StoreStatus]:
    """The kiosk's store as kiosks need it: state, whether the catalog is stale, and whether
    orders go to the POS at once (`live`), wait for it (`queued`) or are refused (`paused`).
    The same as the `store.status` events of `StoreChannel`."""
    return envelope(
        await reports.store_status(session, kiosk.scope, kiosk.store_id, now=clock.now())
    )


@router.get("/api/v1/health/stores", tags=["health"], response_model=FleetPage)
async def list_store_health(
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    state: Annotated[StoreConnectionState | None, Query(description="Only this state.")] = None,
    cause: Annotated[HealthCause | None, Query(description="Only this cause.")] = None,
) -> FleetPage:
    """Support's fleet view: every store the caller sees with its state, cause and since when,
    filterable by state and cause, and `meta.counts` by state over all of them."""
    entries, next_cursor, counts = await reports.fleet(
        session,
        caller.scope,
        state=state,
        cause=cause.value if cause else None,
        limit=page.limit,
        cursor=page.cursor,
    )
    return FleetPage(
        data=entries,
        meta={"next_cursor": next_cursor, "count": len(entries), "counts": counts.model_dump()},
    )


@router.get("/api/v1/fleet", tags=["health"], response_model=FleetOverviewPage)
async def list_fleet(
    caller: ViewerDep,
    session: SessionDep,
    hub: HubDep,
    page: PageDep,
    state: Annotated[
        list[FleetState] | None,
        Query(description="Only stores in these states (repeatable); `unjudged`: not judged yet."),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00]*$",
            description="Only stores whose name contains this (case-insensitive).",
        ),
    ] = None,
) -> FleetOverviewPage:
    """The operator console's fleet: every store the caller sees, by name, with its state and
    cause, breaker, last sync, kiosks online, queued orders and firing alerts; `meta.counts`
    by state over all of them whatever the filters. A store not judged yet has `state: null`
    (`unjudged`). Its database statements do not grow with the page size."""
    return await fleet.fleet_overview(
        session,
        caller.scope,
        hub.state,
        states=state,
        q=q,
        limit=page.limit,
        cursor=page.cursor,
    )


@router.put("/api/v1/stores/{store_id}/health/thresholds", tags=["health"])
async def update_health_thresholds(
    store_id: uuid.UUID,
    body: ThresholdsUpdate,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[HealthThresholds]:
    """Overrides the store's health thresholds (names as in the answer of
    `GET .../health`; `null` restores a default); the store is judged again at once."""
    before = await reports.thresholds(session, caller.scope, store_id, now=clock.now())
    after = await reports.update_thresholds(
        session, caller.scope, store_id, body.thresholds, now=clock.now()
    )
    await audit.record(
        caller, "store.health_thresholds.update", store_id=store_id, before=before, after=after
    )
    return envelope(after)


@router.post("/api/v1/stores/{store_id}/pause", tags=["health"])
async def pause_store(
    store_id: uuid.UUID,
    body: PauseBody,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[StoreStatus]:
    """Pauses the store's POS integration: no sync, order or recovery call goes to its POS,
    kiosks keep browsing and take no new orders (409 `STORE_PAUSED`), until it is resumed."""
    before = await reports.store_status(session, caller.scope, store_id, now=clock.now())
    after = await reports.set_paused(
        session,
        caller.scope,
        store_id,
        paused=True,
        actor=f"operator:{caller.operator_id}",
        reason=body.reason,
        now=clock.now(),
    )
    await audit.record(
        caller,
        "store.pause",
        store_id=store_id,
        before=before,
        after={**after.model_dump(), "reason": body.reason},
    )
    return envelope(after)


@router.post("/api/v1/stores/{store_id}/resume", tags=["health"])
async def resume_store(
    store_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[StoreStatus]:
    """Ends a pause: the store is judged again and automatic work resumes."""
    before = await reports.store_status(session, caller.scope, store_id, now=clock.now())
    after = await reports.set_paused(
        session,
        caller.scope,
        store_id,
        paused=False,
        actor=f"operator:{caller.operator_id}",
        reason=None,
        now=clock.now(),
    )
    await audit.record(caller, "store.resume", store_id=store_id, before=before, after=after)
    return envelope(after)


@router.get("/api/v1/stores/{store_id}/recovery", tags=["health"])
async def get_recovery_procedure(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, clock: ClockDep
) -> Envelope[RecoveryProcedure]:
    """The diagnosis and the ordered recovery steps for the store's current cause, each naming
    the endpoint or command that performs it; `automatic` steps are what a recovery run does."""
    return envelope(
        await reports.recovery_procedure(session, caller.scope, store_id, now=clock.now())
    )


@router.post(
    "/api/v1/stores/{store_id}/recovery", tags=["health"], status_code=status.HTTP_202_ACCEPTED
)
async def run_recovery(
    store_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[RecoveryRunOut]:
    """Starts a recovery run now (reset the connection, verify credentials, test the
    connection, sync, drain the order queue) and answers with it; follow its steps in
    `GET .../recovery-runs`. 409 `RECOVERY_IN_PROGRESS` while one runs."""
    store = await get_store(session, caller.scope, store_id)
    await reports.ensure_health(session, store, clock.now())
    run = await start_recovery(
        session,
        store,
        RecoveryTrigger.MANUAL,
        clock=clock,
        actor=f"operator:{caller.operator_id}",
    )
    view = reports.run_view(run)
    await audit.record(
        caller,
        "recovery.run",
        organization_id=store.organization_id,
        store_id=store.id,
        target=view.id,
        after=view,
    )
    return envelope(view)


@router.get("/api/v1/stores/{store_id}/recovery-runs", tags=["health"])
async def list_recovery_runs(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, page: PageDep
) -> Page[RecoveryRunOut]:
    """The store's recovery runs, newest first, with their steps and trigger (`automatic`,
    `manual`, `credentials_updated`)."""
    store = await get_store(session, caller.scope, store_id)
    result = await paginate(
        session,
        repository.recovery_runs(caller.scope, store.id),
        RecoveryRun,
        page,
        newest_first=True,
    )
    items = [reports.run_view(run) for run in result.items]
    return Page[RecoveryRunOut](
        data=items, meta=PageMeta(next_cursor=result.next_cursor, count=len(items))
    )


@router.get("/api/v1/recovery-runs/{recovery_run_id}", tags=["health"])
async def get_recovery_run(
    recovery_run_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[RecoveryRunOut]:
    """One recovery run with its steps as they stand."""
    return envelope(await reports.recovery_run(session, caller.scope, recovery_run_id))
