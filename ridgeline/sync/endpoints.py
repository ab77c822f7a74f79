"""HTTP surface of catalog sync: ask for a run, watch runs and issues, tune the schedule and
field mapping, and reconcile our catalog against a fresh POS read."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from ridgeline.api.dependencies import (
    AuditDep,
    ClockDep,
    DatabaseDep,
    PosConnectorDep,
    SessionDep,
)
from ridgeline.api.pagination import PageDep, page_of
from ridgeline.api.schemas import Envelope, Page, envelope
from ridgeline.auth.dependencies import OrgAdminDep, StoreManagerDep, ViewerDep
from ridgeline.models.sync import SyncStatus
from ridgeline.sync import reconcile, runs
from ridgeline.sync.schemas import (
    Reconciliation,
    SyncIssueOut,
    SyncQueued,
    SyncRequest,
    SyncRunDetail,
    SyncRunOut,
    SyncStateOut,
    SyncStateUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["sync"])


@router.post("/stores/{store_id}/sync", status_code=status.HTTP_202_ACCEPTED)
async def request_store_sync(
    store_id: uuid.UUID,
    body: SyncRequest,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[SyncQueued]:
    """Queue a sync of the store's catalog (`full` or `incremental`) or stock (`inventory`).
    202 with the job's id; 409 `SYNC_IN_PROGRESS` when one of that kind runs or waits already."""
    queued = await runs.request_sync(session, caller.scope, store_id, body.kind, clock=clock)
    await audit.record(
        caller, "sync.request", store_id=queued.store_id, target=queued.job_id, after=queued
    )
    return envelope(queued)


@router.get("/stores/{store_id}/sync-runs")
async def list_sync_runs(
    store_id: uuid.UUID,
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[SyncStatus | None, Query()] = None,
) -> Page[SyncRunOut]:
    """The store's sync runs, oldest first; `?status=failed` for the failures."""
    result = await runs.list_runs(session, caller.scope, store_id, page, status=status)
    return page_of(result, SyncRunOut)


@router.get("/sync-runs/{sync_run_id}")
async def get_sync_run(
    sync_run_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[SyncRunDetail]:
    """One run with its counts, error, and the records it quarantined."""
    return envelope(await runs.run_detail(session, caller.scope, sync_run_id))


@router.get("/stores/{store_id}/sync-issues")
async def list_sync_issues(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, page: PageDep
) -> Page[SyncIssueOut]:
    """Vendor records syncs could not take, with the raw record and why."""
    result = await runs.list_issues(session, caller.scope, store_id, page)
    return page_of(result, SyncIssueOut)


@router.get("/stores/{store_id}/sync-state")
async def get_sync_state(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, clock: ClockDep
) -> Envelope[SyncStateOut]:
    """The store's sync schedule, cursor, last success, whether its catalog is stale, and its
    field-mapping overrides."""
    return envelope(await runs.get_state(session, caller.scope, store_id, now=clock.now()))


@router.put("/stores/{store_id}/sync-state")
async def update_sync_state(
    store_id: uuid.UUID,
    body: SyncStateUpdate,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[SyncStateOut]:
    """Change sync intervals, the staleness threshold or the field mapping
    (`{"category": {"<POS category>": "<canonical category>"}, "brand": {"<from>": "<to>"}}`).
    Absent fields are left alone."""
    before = await runs.get_state(session, caller.scope, store_id, now=clock.now())
    state = await runs.update_state(session, caller.scope, store_id, body, now=clock.now())
    await audit.record(
        caller, "sync.settings.update", store_id=store_id, before=before, after=state
    )
    return envelope(state)


@router.get("/stores/{store_id}/reconciliation")
async def reconcile_store(
    store_id: uuid.UUID,
    caller: StoreManagerDep,
    database: DatabaseDep,
    connector: PosConnectorDep,
    clock: ClockDep,
) -> Envelope[Reconciliation]:
    """A fresh POS read compared with our catalog: products missing on either side, price and
    stock differences per variant. Writes nothing."""
    result = await reconcile.reconcile(database, connector, caller.scope, store_id, clock=clock)
    return envelope(result)
