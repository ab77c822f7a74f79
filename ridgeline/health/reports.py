"""What operators and kiosks read about store health: one store's health with its evidence,
the fleet, the recovery procedure for the current cause, and recovery runs. Services flush,
never commit: the request boundary commits."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository as alerts_repository
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound, ValidationFailed
from ridgeline.health import repository
from ridgeline.health import service as health
from ridgeline.health.procedures import procedure_for, render
from ridgeline.health.schemas import (
    AlertBrief,
    FleetCounts,
    FleetEntry,
    HealthEvidence,
    KiosksOnline,
    QueuedOrders,
    RecoveryProcedure,
    RecoveryRunOut,
    RecoveryRunStep,
    RecoveryStep,
    StoreHealthOut,
    StoreStatus,
    SyncRunBrief,
    TransitionOut,
)
from ridgeline.health.state import HealthThresholds, Trigger, window_figures
from ridgeline.models.health import RecoveryRun, StoreConnectionState, StoreHealth
from ridgeline.models.store import Store
from ridgeline.stores.service import get_store

LATEST_TRANSITIONS = 20
LATEST_SYNCS = 5
RECENT_CALLS = 10
# A kiosk whose last heartbeat is older than this counts as offline where presence is unknown.
KIOSK_ONLINE_WITHIN = timedelta(seconds=90)


async def ensure_health(session: AsyncSession, store: Store, now: datetime) -> StoreHealth:
    """The store's health row, judged now if it never was."""
    row = await repository.health_of(session, _store_scope(store), store.id)
    if row is None:
        await health.evaluate(session, store.id, now=now, trigger=Trigger.SWEEP)
        row = await repository.health_of(session, _store_scope(store), store.id)
    assert row is not None
    return row


def _store_scope(store: Store) -> TenantScope:
    return TenantScope(organization_id=store.organization_id, store_ids=frozenset({store.id}))


async def store_status(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, now: datetime
) -> StoreStatus:
    store = await get_store(session, scope, store_id)
    row = await ensure_health(session, store, now)
    sync_state = await repository.sync_state(session, store.id)
    return health.status_of(store, row, sync_state, now)


async def store_health(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    now: datetime,
    connected_kiosks: set[uuid.UUID],
) -> StoreHealthOut:
    store = await get_store(session, scope, store_id)
    row = await ensure_health(session, store, now)
    sync_state = await repository.sync_state(session, store.id)
    status = health.status_of(store, row, sync_state, now)
    thresholds = HealthThresholds.for_store(row.thresholds)
    calls = await repository.recent_calls(session, store.id, limit=thresholds.window_calls * 2)
    breaker = await repository.breaker_row(session, store.id)
    kiosks = await repository.kiosks_of(session, scope, store.id)
    heartbeats = [k.last_seen_at for k in kiosks if k.last_seen_at is not None]
    waiting, oldest = await repository.waiting_orders(session, scope, store.id)
    syncs = await repository.latest_sync_runs(session, scope, store.id, limit=LATEST_SYNCS)
    alerts = await alerts_repository.open_alerts_of_store(session, scope, store.id)
    transitions = await repository.latest_transitions(
        session, scope, store.id, limit=LATEST_TRANSITIONS
    )
    evidence = HealthEvidence(
        breaker={
            "state": breaker.state.value if breaker else "closed",
            "open_until": breaker.open_until if breaker else None,
            "last_reason": breaker.last_reason if breaker else None,
            "window": len(breaker.window) if breaker else 0,
        },
        window=window_figures(calls, thresholds, now).as_evidence(),
        last_reached_at=row.last_reached_at,
        unreachable_since=row.unreachable_since,
        credentials_refused_at=store.pos_credentials_refused_at,
        recent_calls=[
            {
                "at": call.at,
                "outcome": call.outcome,
                "status": call.status,
                "duration_ms": call.duration_ms,
            }
            for call in calls[:RECENT_CALLS]
        ],
        last_syncs=[
            SyncRunBrief(
                id=run.id,
                kind=run.kind.value,
                trigger=run.trigger.value,
                status=run.status.value,
                started_at=run.started_at,
                finished_at=run.finished_at,
                error=run.error,
            )
            for run in syncs
        ],
        consecutive_sync_failures=sync_state.consecutive_failures if sync_state else 0,
        kiosks=KiosksOnline(
            online=sum(1 for kiosk in kiosks if kiosk.id in connected_kiosks),
            total=len(kiosks),
            last_heartbeat_at=max(heartbeats) if heartbeats else None,
        ),
        queued_orders=QueuedOrders(count=waiting, oldest_placed_at=oldest),
        open_alerts=[
            AlertBrief(
                id=alert.id,
                kind=alert.kind,
                severity=alert.severity,
                title=alert.title,
                created_at=alert.created_at,
                occurrences=alert.occurrences,
            )
            for alert in alerts
        ],
    )
    paused: dict[str, Any] | None = None
    if row.paused_at is not None:
        paused = {"at": row.paused_at, "by": row.paused_by, "reason": row.pause_reason}
    return StoreHealthOut(
        store_id=store.id,
        store_name=store.name,
        state=row.state,
        cause=row.cause,
        since=row.since,
        ordering=status.ordering,
        catalog=status.catalog,
        paused=paused,
        next_recovery_at=row.next_recovery_at,
        recovery_failures=row.recovery_failures,
        thresholds=thresholds,
        evidence=evidence,
        transitions=[
            TransitionOut(
                at=t.at,
                from_state=t.from_state,
                to_state=t.to_state,
                cause=t.cause,
                trigger=t.trigger,
                evidence=t.evidence,
            )
            for t in transitions
        ],
    )


async def thresholds(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, now: datetime
) -> HealthThresholds:
    """The store's thresholds as they are now, defaults included."""
    store = await get_store(session, scope, store_id)
    row = await ensure_health(session, store, now)
    return HealthThresholds.model_validate(row.thresholds)


async def update_thresholds(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    overrides: dict[str, Any],
    *,
    now: datetime,
) -> HealthThresholds:
    """Merges overrides into the store's (`null` drops one), validated as a whole, then
    judges the store again under them."""
    store = await get_store(session, scope, store_id)
    await ensure_health(session, store, now)
    row = await repository.locked_health(session, store.id)
    assert row is not None
    merged = {**row.thresholds, **overrides}
    merged = {name: value for name, value in merged.items() if value is not None}
    try:
        thresholds = HealthThresholds.model_validate(merged)
    except PydanticValidationError as exc:
        raise ValidationFailed.for_fields(
            [
                {
                    "loc": ["body", "thresholds", *map(str, error["loc"])],
                    "message": error["msg"],
                    "type": error["type"],
                }
                for error in exc.errors()
            ]
        ) from None
    row.thresholds = thresholds.model_dump(include=set(merged))
    await health.evaluate(session, store.id, now=now, trigger=Trigger.SWEEP, row=row)
    return thresholds


async def set_paused(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    paused: bool,
    actor: str,
    reason: str | None,
    now: datetime,
) -> StoreStatus:
    store = await get_store(session, scope, store_id)
    await ensure_health(session, store, now)
    row = await health.set_paused(
        session, store.id, paused=paused, actor=actor, reason=reason, now=now
    )
    sync_state = await repository.sync_state(session, store.id)
    return health.status_of(store, row, sync_state, now)


def _encode(store_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(store_id.bytes).decode().rstrip("=")


def _decode(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise ValidationFailed("The cursor is not one this list returned.") from None


async def fleet(
    session: AsyncSession,
    scope: TenantScope,
    *,
    state: StoreConnectionState | None,
    cause: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[FleetEntry], str | None, FleetCounts]:
    """The stores the caller sees with their state, filtered, keyset paged by store id; the
    counts cover every state whatever the filters."""
    after = _decode(cursor) if cursor else None
    rows = await repository.fleet_page(
        session, scope, state=state, cause=cause, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    counts = FleetCounts(**await repository.counts_by_state(session, scope))
    entries = [
        FleetEntry(
            store_id=row.store_id,
            state=row.state,
            cause=row.cause,
            since=row.since,
            next_recovery_at=row.next_recovery_at,
        )
        for row in rows
    ]
    return entries, (_encode(rows[-1].store_id) if more and rows else None), counts


async def recovery_procedure(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, now: datetime
) -> RecoveryProcedure:
    store = await get_store(session, scope, store_id)
    row = await ensure_health(session, store, now)
    procedure = procedure_for(row.cause)
    return RecoveryProcedure(
        store_id=store.id,
        state=row.state,
        cause=row.cause,
        diagnosis=procedure.diagnosis,
        steps=[
            RecoveryStep(
                name=step.name,
                title=step.title,
                how=render(step, store.id),
                automatic=step.automatic,
            )
            for step in procedure.steps
        ],
    )


def run_view(run: RecoveryRun) -> RecoveryRunOut:
    return RecoveryRunOut(
        id=run.id,
        store_id=run.store_id,
        trigger=run.trigger,
        status=run.status,
        state_before=run.state_before,
        cause=run.cause,
        actor=run.actor,
        started_at=run.started_at,
        finished_at=run.finished_at,
        steps=[RecoveryRunStep.model_validate(step) for step in run.steps],
        error=run.error,
    )


async def recovery_run(
    session: AsyncSession, scope: TenantScope, run_id: uuid.UUID
) -> RecoveryRunOut:
    run = await repository.recovery_run(session, run_id)
    if run is None or not scope.allows_store(run.organization_id, run.store_id):
        raise NotFound("recovery_run", run_id)
    return run_view(run)
