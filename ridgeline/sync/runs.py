"""What operators do with syncs: ask for one, look at runs, issues and the schedule, tune it.
Services flush, never commit: the request boundary commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, PageResult, paginate
from ridgeline.clock import Clock
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound, PosNotConfigured, SyncInProgress
from ridgeline.models.store import Store
from ridgeline.models.sync import (
    DEFAULT_CATALOG_INTERVAL_S,
    DEFAULT_INVENTORY_INTERVAL_S,
    StoreSyncState,
    SyncIssue,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.stores.service import get_store
from ridgeline.sync import repository
from ridgeline.sync.mapping import parse_field_mapping
from ridgeline.sync.schemas import (
    SyncIssueOut,
    SyncQueued,
    SyncRunDetail,
    SyncRunOut,
    SyncStateOut,
    SyncStateUpdate,
)
from ridgeline.sync.tasks import enqueue_sync

RUN_DETAIL_ISSUES = 200


async def request_sync(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, kind: SyncKind, *, clock: Clock
) -> SyncQueued:
    """Queues an operator's sync; `SyncInProgress` if one of that kind runs or waits already."""
    store = await get_store(session, scope, store_id)
    if store.pos_provider is None:
        raise PosNotConfigured()
    await repository.ensure_sync_state(session, store, due_at=clock.now())
    busy = await repository.running_run(session, scope, store.id, kind)
    job = None
    if busy is None:
        job = await enqueue_sync(session, store.id, kind, SyncTrigger.OPERATOR, clock=clock)
    if job is None:
        raise SyncInProgress(details={"store_id": str(store.id), "kind": kind.value})
    return SyncQueued(job_id=job.id, store_id=store.id, kind=kind)


async def list_runs(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    page: PageRequest,
    *,
    status: SyncStatus | None = None,
) -> PageResult[SyncRun]:
    store = await get_store(session, scope, store_id)
    statement = repository.sync_runs(scope, store.id, status=status)
    return await paginate(session, statement, SyncRun, page)


async def run_detail(
    session: AsyncSession, scope: TenantScope, sync_run_id: uuid.UUID
) -> SyncRunDetail:
    run = await repository.sync_run(session, scope, sync_run_id)
    if run is None:
        raise NotFound("sync_run", sync_run_id)
    statement = repository.sync_issues(scope, run.store_id, sync_run_id=run.id)
    issues = (
        await session.scalars(
            statement.order_by(SyncIssue.created_at, SyncIssue.id).limit(RUN_DETAIL_ISSUES)
        )
    ).all()
    return SyncRunDetail(
        **SyncRunOut.model_validate(run).model_dump(),
        issues=[SyncIssueOut.model_validate(issue) for issue in issues],
    )


async def list_issues(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, page: PageRequest
) -> PageResult[SyncIssue]:
    store = await get_store(session, scope, store_id)
    return await paginate(session, repository.sync_issues(scope, store.id), SyncIssue, page)


def _default_state(store: Store, now: datetime) -> StoreSyncState:
    """The state a store has before its first scheduled sync: the model's defaults."""
    due = now if store.pos_provider is not None else None
    return StoreSyncState(
        store_id=store.id,
        organization_id=store.organization_id,
        catalog_interval_s=DEFAULT_CATALOG_INTERVAL_S,
        inventory_interval_s=DEFAULT_INVENTORY_INTERVAL_S,
        stale_after_s=3600,
        consecutive_failures=0,
        field_mapping={},
        next_catalog_sync_at=due,
        next_inventory_sync_at=due,
    )


def describe_state(state: StoreSyncState, now: datetime) -> SyncStateOut:
    stale = state.last_success_at is None or now - state.last_success_at > timedelta(
        seconds=state.stale_after_s
    )
    return SyncStateOut(
        store_id=state.store_id,
        catalog_interval_s=state.catalog_interval_s,
        inventory_interval_s=state.inventory_interval_s,
        stale_after_s=state.stale_after_s,
        next_catalog_sync_at=state.next_catalog_sync_at,
        next_inventory_sync_at=state.next_inventory_sync_at,
        catalog_cursor=state.catalog_cursor,
        last_full_sync_at=state.last_full_sync_at,
        last_success_at=state.last_success_at,
        consecutive_failures=state.consecutive_failures,
        stale=stale,
        field_mapping=dict(state.field_mapping or {}),
    )


async def get_state(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, now: datetime
) -> SyncStateOut:
    store = await get_store(session, scope, store_id)
    state = await repository.sync_state(session, scope, store.id)
    return describe_state(state or _default_state(store, now), now)


async def update_state(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    body: SyncStateUpdate,
    *,
    now: datetime,
) -> SyncStateOut:
    """Changes intervals, staleness or field mapping; a shorter interval moves the next sync
    closer (never later than now + the new interval)."""
    store = await get_store(session, scope, store_id)
    state = await repository.sync_state(session, scope, store.id)
    if state is None:
        state = _default_state(store, now)
        session.add(state)
    changes = body.changes()
    if "field_mapping" in changes:
        state.field_mapping = parse_field_mapping(changes.pop("field_mapping")).stored()
    for name, value in changes.items():
        setattr(state, name, value)
    catalog_cap = now + timedelta(seconds=state.catalog_interval_s)
    if state.next_catalog_sync_at is not None and state.next_catalog_sync_at > catalog_cap:
        state.next_catalog_sync_at = catalog_cap
    inventory_cap = now + timedelta(seconds=state.inventory_interval_s)
    if state.next_inventory_sync_at is not None and state.next_inventory_sync_at > inventory_cap:
        state.next_inventory_sync_at = inventory_cap
    state.updated_at = now
    await session.flush()
    return describe_state(state, now)
