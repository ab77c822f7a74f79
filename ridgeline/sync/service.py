"""The sync engine: one run of one kind for one store, from the POS into our catalog.

A run takes its lock (a `running` SyncRun row; a partial unique index allows one per store and
kind), commits it, and reads the POS with no transaction open (the breaker and call log write in
their own transactions, which on SQLite would wait behind ours). It then writes only what
changed, in short batched transactions, each change with its stream event. See docs/sync.md.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.compliance.service import missing_measures, store_profile
from ridgeline.db.engine import Database
from ridgeline.errors import NotFound, PosNotConfigured, SyncInProgress
from ridgeline.models.store import Store
from ridgeline.models.sync import (
    SyncIssue,
    SyncIssueKind,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.monitoring import tracing
from ridgeline.pos.call_log import PosCallLog
from ridgeline.pos.canonical import CanonicalProduct
from ridgeline.pos.capabilities import CatalogSource
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnusable
from ridgeline.pos.errors import PosError, RecordInvalid
from ridgeline.realtime.streams import append_many, store_stream
from ridgeline.resilience import CircuitOpen
from ridgeline.sync import repository
from ridgeline.sync.mapping import FieldMapping, content_hash, stock_by_product
from ridgeline.sync.outcome import (
    RunCounts,
    StartedRun,
    SyncAborted,
    append_resync,
    finish_failed,
    finish_succeeded,
)
from ridgeline.sync.repository import KnownProduct, store_scope
from ridgeline.sync.writes import Event, ProductChange, StockChange, write_products, write_stock
from ridgeline.sync.writes import deactivate_products as write_deactivations

log = structlog.get_logger(__name__)

# A running run whose heartbeat is older than this lost its worker: it is abandoned and replaced.
STALE_RUN_AFTER = timedelta(minutes=10)
ABANDONED = "abandoned: worker stopped"
BATCH_SIZE = 500
# A run that adds or removes this many products refreshes SQLite's planner statistics: without
# them SQLite reads a page of the kiosk catalog through the store index instead of primary keys
# (9-12 ms a read instead of 0.5 ms on 20,000 products, docs/benchmarks.md).
ANALYZE_AFTER_ROWS = 1000
# A run changing more products than this emits one `catalog.resync` instead of per-product events.
RESYNC_THRESHOLD = 500
# A full fetch that would deactivate more than this share of the active catalog (and at least
# TRUNCATION_GUARD_MIN products) is taken for a truncated answer and fails the run.
TRUNCATION_GUARD_RATIO = 0.5
TRUNCATION_GUARD_MIN = 10
# Identifier fields tried to name a record that failed to map (adapters raise without one).
_ID_FIELDS = ("productId", "id", "product_id", "productID", "_id", "sku")

ProgressCallback = Callable[[int, int], None]
T = TypeVar("T")


# The runs whose POS read covers a run of each kind: a full run reads the whole catalog too.
COVERING_KINDS: dict[SyncKind, tuple[SyncKind, ...]] = {
    SyncKind.FULL: (SyncKind.FULL,),
    SyncKind.INCREMENTAL: (SyncKind.INCREMENTAL, SyncKind.FULL),
    SyncKind.INVENTORY: (SyncKind.INVENTORY,),
}


class AlreadyRead(Exception):
    """`run_sync(read_since=...)`: a finished run that started at or after that time has read
    the POS already (its id, status and error); nothing was started."""

    def __init__(self, run_id: uuid.UUID, status: SyncStatus, error: str | None) -> None:
        super().__init__(f"sync run {run_id} read the POS after the time asked for")
        self.run_id = run_id
        self.status = status
        self.error = error


# Failures that end a run as `failed` and are handled (logged, notified, rescheduled); anything
# else is also recorded as a failed run, then re-raised for the caller (a job retries it).
_RUN_FAILURES = (PosError, CircuitOpen, PosNotConfigured, CredentialsUnusable, SyncAborted)


async def run_sync(
    database: Database,
    connector: PosConnector,
    store_id: uuid.UUID,
    kind: SyncKind,
    trigger: SyncTrigger,
    *,
    clock: Clock,
    progress: ProgressCallback | None = None,
    read_since: datetime | None = None,
) -> SyncRun:
    """Runs one sync and returns its finished SyncRun (failed runs are returned, not raised).

    Raises `NotFound` for an unknown store and `SyncInProgress` when a run of the same store and
    kind holds the lock. With `read_since`, raises `AlreadyRead` instead of starting when a run
    that reads what this one would (`COVERING_KINDS`) started at or after it and has finished:
    checked in the transaction that takes the lock, so on SQLite (one writer) a run that finished
    just before is always seen.
    """
    attributes = {"store.id": str(store_id), "sync.kind": kind.value, "sync.trigger": trigger.value}
    with tracing.start_span(f"sync {kind.value}", "internal", attributes) as span:
        run = await _run_sync(
            database, connector, store_id, kind, trigger, clock, progress, read_since
        )
        tracing.set_attributes(span, {"sync.run_id": str(run.id), "sync.status": run.status.value})
        if run.status is SyncStatus.FAILED:
            tracing.mark_failed(span, run.error or "the sync run failed")
        return run


async def _run_sync(
    database: Database,
    connector: PosConnector,
    store_id: uuid.UUID,
    kind: SyncKind,
    trigger: SyncTrigger,
    clock: Clock,
    progress: ProgressCallback | None,
    read_since: datetime | None,
) -> SyncRun:
    began = time.perf_counter()
    started = await _start_run(database, store_id, kind, trigger, clock, read_since)
    store = started.store
    fields = {"store_id": str(store.id), "kind": kind.value, "trigger": trigger.value}
    log.info("sync_run_started", sync_run_id=str(started.run_id), **fields)
    counts = RunCounts()
    calls = connector.call_log
    try:
        adapter = connector.adapter_for(store)
        if kind is SyncKind.INVENTORY:
            await _sync_inventory(database, adapter, calls, started, counts, clock, progress)
        else:
            await _sync_catalog(database, adapter, calls, started, kind, counts, clock, progress)
    except _RUN_FAILURES as exc:
        return await finish_failed(database, started, kind, counts, exc, clock, began)
    except BaseException as exc:
        # Unexpected (or cancelled): release the lock with a failed run, then let it propagate.
        try:
            await asyncio.shield(finish_failed(database, started, kind, counts, exc, clock, began))
        except Exception:
            # The database may be what failed; the stale-run rule frees the lock later.
            log.exception("sync_run_not_recorded", sync_run_id=str(started.run_id))
        raise
    run = await finish_succeeded(database, started, kind, counts, clock, began)
    if counts.created + counts.deactivated >= ANALYZE_AFTER_ROWS:
        await database.refresh_statistics()
    return run


async def _start_run(
    database: Database,
    store_id: uuid.UUID,
    kind: SyncKind,
    trigger: SyncTrigger,
    clock: Clock,
    read_since: datetime | None,
) -> StartedRun:
    for _ in range(2):
        try:
            return await _insert_run(database, store_id, kind, trigger, clock, read_since)
        except IntegrityError:
            if not await _abandon_stale_run(database, store_id, kind, clock):
                break
    raise SyncInProgress(details={"store_id": str(store_id), "kind": kind.value})


async def _insert_run(
    database: Database,
    store_id: uuid.UUID,
    kind: SyncKind,
    trigger: SyncTrigger,
    clock: Clock,
    read_since: datetime | None,
) -> StartedRun:
    now = clock.now()
    async with database.transaction() as session:
        store = await repository.store_for_system(session, store_id)
        if store is None:
            raise NotFound("store", store_id)
        scope = store_scope(store)
        await repository.ensure_sync_state(session, store, due_at=now)
        state = await repository.sync_state(session, scope, store.id)
        assert state is not None
        await _refuse_other_catalog_run(session, store, kind, now)
        if read_since is not None:
            done = await repository.run_started_since(
                session, store.id, COVERING_KINDS[kind], read_since
            )
            if done is not None:
                raise AlreadyRead(done.id, done.status, done.error)
        run = SyncRun(
            organization_id=store.organization_id,
            store_id=store.id,
            kind=kind,
            trigger=trigger,
            status=SyncStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            cursor_before=state.catalog_cursor,
            created_at=now,
            updated_at=now,
        )
        session.add(run)
        await session.flush()
    return StartedRun(store, run.id, state)


async def _refuse_other_catalog_run(
    session: AsyncSession, store: Store, kind: SyncKind, now: datetime
) -> None:
    """Full and incremental runs write the same products, so they exclude each other too. The
    unique index only covers one kind: this check is atomic on SQLite (one writer) and narrows,
    but does not close, the window on PostgreSQL (docs/sync.md)."""
    if kind is SyncKind.INVENTORY:
        return
    other = SyncKind.INCREMENTAL if kind is SyncKind.FULL else SyncKind.FULL
    busy = await repository.running_run(session, store_scope(store), store.id, other)
    if busy is not None and now - busy.heartbeat_at < STALE_RUN_AFTER:
        raise SyncInProgress(
            "A catalog sync of this store is already running.",
            details={"store_id": str(store.id), "kind": other.value},
        )


async def _abandon_stale_run(
    database: Database, store_id: uuid.UUID, kind: SyncKind, clock: Clock
) -> bool:
    """Marks the running run failed if its worker stopped heartbeating; True if it did."""
    now = clock.now()
    async with database.transaction() as session:
        store = await repository.store_for_system(session, store_id)
        if store is None:
            return False
        run = await repository.running_run(session, store_scope(store), store_id, kind)
        if run is None:
            return True  # it finished meanwhile: try again
        if now - run.heartbeat_at < STALE_RUN_AFTER:
            return False
        run.status = SyncStatus.FAILED
        run.error = ABANDONED
        run.finished_at = now
        # Its worker died: whatever batches it committed may have had no events of their own.
        await append_resync(session, store_id, run.id, now)
        log.warning("sync_run_abandoned", sync_run_id=str(run.id), store_id=str(store_id))
    return True


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _record_id(record: object) -> str | None:
    if not isinstance(record, dict):
        return None
    for name in _ID_FIELDS:
        value = record.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:200]
    return None


async def _sync_catalog(
    database: Database,
    adapter: CatalogSource,
    calls: PosCallLog,
    started: StartedRun,
    kind: SyncKind,
    counts: RunCounts,
    clock: Clock,
    progress: ProgressCallback | None,
) -> None:
    store, scope = started.store, store_scope(started.store)
    try:
        mapping = FieldMapping.model_validate(started.state.field_mapping or {})
    except ValidationError as exc:
        raise SyncAborted(f"the store's field_mapping is not valid: {exc}") from None
    since = started.state.catalog_cursor if kind is SyncKind.INCREMENTAL else None
    async with calls.batched():  # the fetch's `pos_calls` rows (a page each), written together
        fetch = await adapter.fetch_products(since=since)  # no transaction open
    counts.fetched = len(fetch.records)
    counts.cursor_after = fetch.cursor
    counts.full_fetch = fetch.full

    valid: dict[str, Any] = {}
    issues: list[SyncIssue] = []
    for record in fetch.records:
        try:
            product = mapping.apply(adapter.map_product(record))
        except (RecordInvalid, ValidationError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, RecordInvalid) else str(exc)
            issues.append(
                SyncIssue(
                    organization_id=store.organization_id,
                    store_id=store.id,
                    sync_run_id=started.run_id,
                    external_id=_record_id(record),
                    reason=reason[:4000],
                    raw_record=dict(record),
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )
            continue
        valid.setdefault(product.external_id, product)  # a repeated record counts once
    counts.invalid = len(issues)
    flagged = _missing_compliance_data(store, started.run_id, valid.values(), clock.now())
    if issues or flagged:
        async with database.transaction() as session:
            session.add_all([*issues, *flagged])

    async with database.transaction(write=False) as session:
        known = await repository.known_products(session, scope, store.id)
    changes: list[ProductChange] = []
    for external_id, product in valid.items():
        digest = content_hash(product)
        seen: KnownProduct | None = known.get(external_id)
        if seen is not None and seen.content_hash == digest and seen.is_active == product.is_active:
            counts.unchanged += 1
        else:
            changes.append(ProductChange(product, digest, seen))
    missing: list[uuid.UUID] = []
    if fetch.full:
        # A product whose record failed to map is still at the POS: keep it.
        quarantined = {issue.external_id for issue in issues}
        missing = [
            seen.id
            for external_id, seen in known.items()
            if seen.is_active and external_id not in valid and external_id not in quarantined
        ]
        active = sum(1 for seen in known.values() if seen.is_active)
        if len(missing) >= TRUNCATION_GUARD_MIN and len(missing) > active * TRUNCATION_GUARD_RATIO:
            raise SyncAborted(
                f"refused: the full fetch would deactivate {len(missing)} of {active} active "
                "products; the POS answer looks truncated"
            )
    total = len(changes) + len(missing)
    counts.resync = total > RESYNC_THRESHOLD
    done = 0
    if progress is not None:
        progress(total, done)
    for batch in _chunks(changes, BATCH_SIZE):
        async with database.transaction() as session:
            now = clock.now()
            created, updated, events = await write_products(
                session, scope, store, batch, now=now, with_events=not counts.resync
            )
            await _commit_batch(session, started, events, counts, now)
        counts.created += created
        counts.updated += updated
        done += len(batch)
        if progress is not None:
            progress(total, done)
    # Deactivation last: a run that fails midway never hides products it did not get to.
    for id_batch in _chunks(missing, BATCH_SIZE):
        async with database.transaction() as session:
            now = clock.now()
            events = await write_deactivations(
                session, scope, id_batch, now=now, with_events=not counts.resync
            )
            await _commit_batch(session, started, events, counts, now)
        counts.deactivated += len(id_batch)
        done += len(id_batch)
        if progress is not None:
            progress(total, done)


async def _commit_batch(
    session: AsyncSession,
    started: StartedRun,
    events: list[Event],
    counts: RunCounts,
    now: datetime,
) -> None:
    """The batch's events (unless the run ends in one `catalog.resync`) and the run's heartbeat,
    in the batch's transaction."""
    if not counts.resync:
        await append_many(session, store_stream(started.store.id), events, at=now)
    await repository.touch_run(session, store_scope(started.store), started.run_id, at=now)


async def _sync_inventory(
    database: Database,
    adapter: CatalogSource,
    calls: PosCallLog,
    started: StartedRun,
    counts: RunCounts,
    clock: Clock,
    progress: ProgressCallback | None,
) -> None:
    store, scope = started.store, store_scope(started.store)
    async with calls.batched():
        levels = await adapter.fetch_inventory()  # no transaction open
    counts.fetched = len(levels)
    by_product = stock_by_product(levels)
    async with database.transaction(write=False) as session:
        rows = await repository.stock_rows(session, scope, store.id)
    changes: list[StockChange] = []
    for row in rows:
        per_variant = by_product.get(row.product_external_id, {})
        # Absent from the list: no stock (Dutchie omits zero). None: the product's level.
        quantity = per_variant.get(row.variant_external_id, per_variant.get(None, 0))
        if quantity != row.quantity:
            changes.append(StockChange(row.variant_id, row.product_id, quantity))
        else:
            counts.unchanged += 1
    counts.resync = len(changes) > RESYNC_THRESHOLD
    if progress is not None:
        progress(len(changes), 0)
    for batch in _chunks(changes, BATCH_SIZE):
        async with database.transaction() as session:
            now = clock.now()
            events = await write_stock(session, batch, now=now)
            await _commit_batch(session, started, events, counts, now)
        counts.updated += len(batch)
        if progress is not None:
            progress(len(changes), counts.updated)


def _missing_compliance_data(
    store: Store, run_id: uuid.UUID, products: Iterable[CanonicalProduct], now: datetime
) -> list[SyncIssue]:
    """Products taken without the weight or potency the store's purchase limits count: flagged
    for the operator to fix at the POS (kiosks count them as the profile says meanwhile)."""
    profile = store_profile(store)
    if profile is None:
        return []
    flagged: list[SyncIssue] = []
    for product in products:
        missing = missing_measures(profile, product)
        if missing:
            flagged.append(
                SyncIssue(
                    organization_id=store.organization_id,
                    store_id=store.id,
                    sync_run_id=run_id,
                    external_id=product.external_id[:200],
                    kind=SyncIssueKind.COMPLIANCE_DATA_MISSING,
                    reason=f"{product.category.value}: {'; '.join(missing)}"[:4000],
                    raw_record=None,
                    created_at=now,
                    updated_at=now,
                )
            )
    return flagged
