"""Processing a stored POS event, once: a product event asks for an incremental catalog sync and
an inventory sync (the POS read is authoritative, the pushed record is not trusted to write the
catalog; a stock-only change need not move a product's modification time, so the incremental
read alone could miss it); an order event moves our order (`track_order_event`, see
orders/tracking.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.jobs import RetryLater
from ridgeline.models.pos_event import PosEvent
from ridgeline.models.sync import SyncKind, SyncTrigger
from ridgeline.orders import tracking
from ridgeline.pos.base import EventKind
from ridgeline.pos.registry import webhook_source
from ridgeline.sync import repository as sync_repository
from ridgeline.sync.tasks import enqueue_sync
from ridgeline.webhooks import repository

log = structlog.get_logger(__name__)

# A sync that is running may have read the POS before the change: the event waits for it to
# finish (this long between looks), but not forever, since the schedule catches up anyway.
BUSY_SYNC_RETRY_S = 5.0
BUSY_SYNC_PATIENCE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Outcome:
    description: str
    error: str | None = None


async def process_event(
    session: AsyncSession, event: PosEvent, *, clock: Clock, enqueued_at: datetime
) -> Outcome:
    """What the event asks for, in the caller's transaction; `RetryLater` while a catalog sync
    of the store runs. The caller marks the event processed in the same transaction."""
    source = webhook_source(event.source)
    kind = source.event_kind(event.event_type) if source is not None else None
    if kind is EventKind.PRODUCT:
        return await _request_catalog_sync(session, event, clock=clock, enqueued_at=enqueued_at)
    if kind is EventKind.ORDER:
        return await track_order_event(session, event, clock=clock)
    return Outcome("ignored", error=f"no processing for {event.source} {event.event_type!r}")


async def track_order_event(session: AsyncSession, event: PosEvent, *, clock: Clock) -> Outcome:
    """An order's status as the POS pushed it: applied to our order, forward only (source
    `pos`). An event for an order we do not know, or a status the order cannot take, is processed
    all the same (the outcome says so): it is not an error of the event."""
    return Outcome(await tracking.track_event(session, event, clock=clock))


async def _request_catalog_sync(
    session: AsyncSession, event: PosEvent, *, clock: Clock, enqueued_at: datetime
) -> Outcome:
    store = await sync_repository.store_for_system(session, event.store_id)
    if store is None or store.pos_provider is None:
        return Outcome("no sync", error="the store has no POS configured any more")
    kind = SyncKind.INCREMENTAL
    now = clock.now()
    if await repository.sync_job_running(session, store.id, kind):
        if now - enqueued_at < BUSY_SYNC_PATIENCE:
            raise RetryLater(BUSY_SYNC_RETRY_S, "a catalog sync of the store is running")
        log.warning("pos_event_sync_still_running", store_id=str(store.id))
    await sync_repository.ensure_sync_state(session, store, due_at=now)
    job = await enqueue_sync(session, store.id, kind, SyncTrigger.WEBHOOK, clock=clock)
    # Some POSes keep a product's modification time when only its stock moves: read stock too.
    # Refused while one waits or runs; the inventory schedule (30 s) then catches up.
    await enqueue_sync(session, store.id, SyncKind.INVENTORY, SyncTrigger.WEBHOOK, clock=clock)
    # None: a sync of the store is waiting already; it reads the POS after this change.
    return Outcome("catalog sync queued" if job else "catalog sync already waiting")
