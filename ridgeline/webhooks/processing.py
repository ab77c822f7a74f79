"""Processing a stored POS event, once.

A product event brings the store's catalog and stock up to the POS's: the event's job runs an
`incremental` and an `inventory` sync itself, both at once (the POS read is authoritative, the
pushed record is not trusted to write the catalog; a stock-only change need not move a product's
modification time, so the incremental read alone could miss it). No second job is queued: the
change reaches kiosks one POS read after the push. A read is shared: a run of the kind that
started after the event arrived and has finished covers it, so a burst of events costs a read or
two per kind, not one per event; while a run of the kind is under way (it may have read the POS
before the change) the job waits for it and then looks again.

An order event moves our order (`track_order_event`, see orders/tracking.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import NotFound, SyncInProgress
from ridgeline.jobs import RetryLater
from ridgeline.models.pos_event import PosEvent
from ridgeline.models.sync import SyncKind, SyncStatus, SyncTrigger
from ridgeline.orders import tracking
from ridgeline.pos.base import EventKind
from ridgeline.pos.client import PosConnector
from ridgeline.pos.registry import webhook_source
from ridgeline.sync import repository as sync_repository
from ridgeline.sync.service import COVERING_KINDS, STALE_RUN_AFTER, AlreadyRead, run_sync

log = structlog.get_logger(__name__)

# What a product event reads: its catalog changes and its stock.
CATCH_UP = (SyncKind.INCREMENTAL, SyncKind.INVENTORY)
# While a run of the kind is under way the job looks again this often (a poll takes well under
# a second on the stores the freshness benchmark measures)...
BUSY_POLL_S = 0.1
# ...for this long, holding its worker slot; then it gives the slot back and is retried later,
# so that the events of a store in a long run (a daily full sync) do not fill the worker's slots.
BUSY_WAIT_S = 3.0
BUSY_SYNC_RETRY_S = 5.0
# A run that stays under way this long (a daily full sync of a large store) is left to finish:
# the event is processed without a read of its own, and the next poll reads after the change.
BUSY_SYNC_PATIENCE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A product event's request: read the store's POS after `since` (when the event arrived)."""

    store_id: uuid.UUID
    since: datetime
    enqueued_at: datetime  # when the event's job was queued: how long it has waited


@dataclass(frozen=True, slots=True)
class Outcome:
    description: str
    error: str | None = None
    # A product event's reads, to run with no transaction open (`catch_up`); their outcome is
    # the event's.
    catch_up: CatchUp | None = None


async def process_event(
    session: AsyncSession, event: PosEvent, *, clock: Clock, enqueued_at: datetime
) -> Outcome:
    """What the event asks for, in the caller's transaction: an order event is applied; a
    product event's outcome carries the `CatchUp` its job runs next. The caller marks the event
    processed once it has the final outcome."""
    source = webhook_source(event.source)
    kind = source.event_kind(event.event_type) if source is not None else None
    if kind is EventKind.PRODUCT:
        store = await sync_repository.store_for_system(session, event.store_id)
        if store is None or store.pos_provider is None:
            return Outcome("no sync", error="the store has no POS configured any more")
        request = CatchUp(store.id, event.received_at, enqueued_at)
        return Outcome("catalog and stock to read", catch_up=request)
    if kind is EventKind.ORDER:
        return await track_order_event(session, event, clock=clock)
    return Outcome("ignored", error=f"no processing for {event.source} {event.event_type!r}")


async def track_order_event(session: AsyncSession, event: PosEvent, *, clock: Clock) -> Outcome:
    """An order's status as the POS pushed it: applied to our order, forward only (source
    `pos`). An event for an order we do not know, or a status the order cannot take, is processed
    all the same (the outcome says so): it is not an error of the event."""
    return Outcome(await tracking.track_event(session, event, clock=clock))


async def catch_up(
    database: Database,
    connector: PosConnector,
    request: CatchUp,
    *,
    clock: Clock,
) -> Outcome:
    """Reads the store's catalog changes and stock after `request.since`, both at once, each
    unless a finished run already did. `RetryLater` while a run that may have read before the
    change stays under way past `BUSY_WAIT_S` (within `BUSY_SYNC_PATIENCE` of the job's queuing)."""
    results = await asyncio.gather(
        *(_read_after(database, connector, request, kind, clock=clock) for kind in CATCH_UP),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    outcomes = [result for result in results if isinstance(result, Outcome)]
    return _combined(outcomes)


async def _read_after(
    database: Database,
    connector: PosConnector,
    request: CatchUp,
    kind: SyncKind,
    *,
    clock: Clock,
) -> Outcome:
    waited_since = time.monotonic()
    while True:
        async with database.transaction(write=False) as session:
            covering = await sync_repository.run_started_since(
                session, request.store_id, COVERING_KINDS[kind], request.since
            )
            busy = covering is None and await sync_repository.run_in_progress(
                session, request.store_id, COVERING_KINDS[kind], clock.now() - STALE_RUN_AFTER
            )
        if covering is not None:
            return _outcome(kind, covering.status, covering.error, shared=True)
        if not busy:
            try:
                run = await run_sync(
                    database,
                    connector,
                    request.store_id,
                    kind,
                    SyncTrigger.WEBHOOK,
                    clock=clock,
                    read_since=request.since,
                )
            except NotFound:
                return Outcome("no sync", error="the store is gone")
            except AlreadyRead as read:  # one that finished just now
                return _outcome(kind, read.status, read.error, shared=True)
            except SyncInProgress:
                pass  # another run took the lock first: it may have read before the change
            else:
                return _outcome(kind, run.status, run.error, shared=False)
        if time.monotonic() - waited_since >= BUSY_WAIT_S:
            if clock.now() - request.enqueued_at < BUSY_SYNC_PATIENCE:
                raise RetryLater(BUSY_SYNC_RETRY_S, f"a {kind.value} sync of the store is running")
            log.warning(
                "pos_event_sync_still_running", store_id=str(request.store_id), kind=kind.value
            )
            return Outcome(f"{kind.value}: left to the schedule (a run stayed under way)")
        await asyncio.sleep(BUSY_POLL_S)


def _outcome(kind: SyncKind, status: SyncStatus, error: str | None, *, shared: bool) -> Outcome:
    how = "read by a run that started after it" if shared else "synced"
    failed = status is SyncStatus.FAILED
    return Outcome(
        f"{kind.value} {how}" + (" (failed)" if failed else ""),
        error=f"{kind.value}: {error or 'the sync run failed'}" if failed else None,
    )


def _combined(outcomes: Sequence[Outcome]) -> Outcome:
    errors = [outcome.error for outcome in outcomes if outcome.error]
    return Outcome(
        "; ".join(outcome.description for outcome in outcomes),
        error="; ".join(errors) if errors else None,
    )
