"""How a sync run ends: its counts and status recorded, the store's schedule moved (the interval
after a success, an exponential backoff after a failure), and a failure made visible (log line,
admin notification, metrics)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts.service import raise_alert, resolve_alerts
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import RidgelineError
from ridgeline.health import service as health
from ridgeline.health.state import Trigger
from ridgeline.models.store import Store
from ridgeline.models.sync import StoreSyncState, SyncKind, SyncRun, SyncStatus
from ridgeline.pos.credentials import CredentialsUnusable
from ridgeline.pos.errors import PosAuthFailed, PosError
from ridgeline.realtime.streams import append_many, store_stream
from ridgeline.resilience import CircuitOpen
from ridgeline.sync import repository
from ridgeline.sync.metrics import SYNC_RECORDS, SYNC_RUN_DURATION, SYNC_RUNS
from ridgeline.sync.repository import store_scope

log = structlog.get_logger(__name__)

# Failed runs retry after BACKOFF_BASE_S * 2**(failures - 1), at most BACKOFF_CAP_S.
BACKOFF_BASE_S = 60.0
BACKOFF_CAP_S = 3600.0


class SyncAborted(Exception):
    """A run cannot finish; `reason` is stored on the failed run (e.g. a truncated catalog)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class RunCounts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    invalid: int = 0
    resync: bool = False
    full_fetch: bool = False  # the POS listed every product (a full run, or no cursor yet)
    cursor_after: datetime | None = None

    def as_fields(self) -> dict[str, int]:
        return {
            "fetched": self.fetched,
            "created": self.created,
            "updated": self.updated,
            "deactivated": self.deactivated,
            "unchanged": self.unchanged,
            "invalid": self.invalid,
        }


@dataclass(frozen=True, slots=True)
class StartedRun:
    store: Store
    run_id: uuid.UUID
    state: StoreSyncState


def sync_alert_key(store_id: uuid.UUID, kind: SyncKind) -> str:
    """One open `sync_failed` alert per store and kind of sync (catalog or inventory)."""
    family = "inventory" if kind is SyncKind.INVENTORY else "catalog"
    return f"sync_failed:{store_id}:{family}"


def _backoff_s(failures: int) -> float:
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(max(failures - 1, 0), 32))


async def finish_succeeded(
    database: Database,
    started: StartedRun,
    kind: SyncKind,
    counts: RunCounts,
    clock: Clock,
    began: float,
) -> SyncRun:
    now = clock.now()
    status = SyncStatus.PARTIALLY_SUCCEEDED if counts.invalid else SyncStatus.SUCCEEDED

    async def record(session: AsyncSession) -> SyncRun:
        run = await _record(session, started, counts, status, None, now, began)
        state = await repository.sync_state(session, store_scope(started.store), started.store.id)
        assert state is not None
        if kind is SyncKind.INVENTORY:
            state.next_inventory_sync_at = now + timedelta(seconds=state.inventory_interval_s)
        else:
            state.catalog_cursor = counts.cursor_after
            state.next_catalog_sync_at = now + timedelta(seconds=state.catalog_interval_s)
            if counts.full_fetch:
                state.last_full_sync_at = now
        state.last_success_at = now
        state.consecutive_failures = 0
        if counts.resync:
            await append_resync(session, started.store.id, run.id, now)
        await resolve_alerts(
            session,
            started.store.organization_id,
            sync_alert_key(started.store.id, kind),
            at=now,
            resolution=f"sync run {run.id} succeeded",
        )
        await health.evaluate(session, started.store.id, now=now, trigger=Trigger.SYNC)
        return run

    run = await database.retrying(record)
    _observe(kind, status, counts, began)
    log.info("sync_run_finished", status=status.value, **_log_fields(run, counts))
    return run


async def append_resync(
    session: AsyncSession, store_id: uuid.UUID, run_id: uuid.UUID, now: datetime
) -> None:
    """Tells kiosks to reload: a run changed too much for per-product events (or may have)."""
    await append_many(
        session,
        store_stream(store_id),
        [("catalog.resync", {"store_id": str(store_id), "sync_run_id": str(run_id)})],
        at=now,
    )


async def finish_failed(
    database: Database,
    started: StartedRun,
    kind: SyncKind,
    counts: RunCounts,
    error: BaseException,
    clock: Clock,
    began: float,
) -> SyncRun:
    now = clock.now()
    reason = _reason(error)
    store = started.store

    async def record(session: AsyncSession) -> tuple[SyncRun, datetime]:
        run = await _record(session, started, counts, SyncStatus.FAILED, reason, now, began)
        state = await repository.sync_state(session, store_scope(store), store.id)
        assert state is not None
        state.consecutive_failures += 1
        retry_at = now + timedelta(seconds=_backoff_s(state.consecutive_failures))
        if kind is SyncKind.INVENTORY:
            state.next_inventory_sync_at = retry_at
        else:
            state.next_catalog_sync_at = retry_at
        if counts.resync and counts.created + counts.updated + counts.deactivated:
            # Its batches committed without events: kiosks must still hear of what changed.
            await append_resync(session, store.id, run.id, now)
        if not covered_by_store_health(error):
            await _alert_failed(session, store, kind, run, reason, state, retry_at, now)
        await health.evaluate(session, store.id, now=now, trigger=Trigger.SYNC)
        return run, retry_at

    run, retry_at = await database.retrying(record)
    _observe(kind, SyncStatus.FAILED, counts, began)
    log.warning(
        "sync_run_failed",
        error=reason,
        next_attempt_at=retry_at.isoformat(),
        **_log_fields(run, counts),
    )
    return run


def covered_by_store_health(error: BaseException) -> bool:
    """Failures that are the store's POS connection being down (breaker open, credentials
    refused or unreadable): the store's own health alert says it once; a sync alert per run
    would only repeat it."""
    return isinstance(error, CircuitOpen | CredentialsUnusable | PosAuthFailed)


async def _alert_failed(
    session: AsyncSession,
    store: Store,
    kind: SyncKind,
    run: SyncRun,
    reason: str,
    state: StoreSyncState,
    retry_at: datetime,
    now: datetime,
) -> None:
    await raise_alert(
        session,
        organization_id=store.organization_id,
        store_id=store.id,
        kind="sync_failed",
        title=f"Sync failed for {store.name}",
        message=f"The {kind.value} sync failed: {reason}",
        details={
            "sync_run_id": str(run.id),
            "kind": kind.value,
            "consecutive_failures": state.consecutive_failures,
            "next_attempt_at": retry_at.isoformat(),
        },
        at=now,
        dedup_key=sync_alert_key(store.id, kind),
        figure=state.consecutive_failures,
    )


def _reason(error: BaseException) -> str:
    if isinstance(error, SyncAborted):
        return error.reason
    if isinstance(error, PosError):
        return f"{error.code}: {error.message}"
    if isinstance(error, RidgelineError):
        return f"{error.code}: {error.message}"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return f"{type(error).__name__}: {error}"[:4000]


async def _record(
    session: AsyncSession,
    started: StartedRun,
    counts: RunCounts,
    status: SyncStatus,
    error: str | None,
    now: datetime,
    began: float,
) -> SyncRun:
    run = await repository.sync_run(session, store_scope(started.store), started.run_id)
    assert run is not None
    for name, value in counts.as_fields().items():
        setattr(run, name, value)
    run.status = status
    run.error = error
    run.finished_at = now
    run.heartbeat_at = now
    run.duration_ms = round((time.perf_counter() - began) * 1000, 1)
    if status is not SyncStatus.FAILED and run.kind is not SyncKind.INVENTORY:
        run.cursor_after = counts.cursor_after
    return run


def _observe(kind: SyncKind, status: SyncStatus, counts: RunCounts, began: float) -> None:
    SYNC_RUNS.labels(kind.value, status.value).inc()
    SYNC_RUN_DURATION.labels(kind.value).observe(time.perf_counter() - began)
    for outcome, value in counts.as_fields().items():
        if outcome != "fetched" and value:
            SYNC_RECORDS.labels(kind.value, outcome).inc(value)


def _log_fields(run: SyncRun, counts: RunCounts) -> dict[str, Any]:
    return {
        "sync_run_id": str(run.id),
        "store_id": str(run.store_id),
        "kind": run.kind.value,
        "duration_ms": run.duration_ms,
        **counts.as_fields(),
    }
