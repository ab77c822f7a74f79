"""Following an order's status at the POS once it is submitted: polling, and pushed events.

- Polling: the `orders.enqueue_polls` schedule (every 30 s) queues one `orders.poll` job per store
  with open orders (`submitted`, `accepted`, `ready`), once per store and tick. The job reads the
  store's open orders (at most `POLL_BATCH`, the longest unchanged first), asks the POS for each
  one's status with no transaction open, and applies what changed, one short transaction each.
- Pushed events (BLAZE carts, Treez tickets, Flowhub postbacks), stored once by the webhook
  endpoint: `track_event` reads the order update out of the payload through the store's adapter
  (`WebhookSource.read_order_update`, which maps the vendor status with the adapter's own table,
  as a poll does), finds our order by our reference or the POS's order id, and applies the status
  in the event's processing transaction.

Either way a status goes through the status machine, source `pos`, reason the vendor status, and
only forward: a status the machine does not allow from where the order is (an older status
arriving late, a POS going backwards) is logged and not applied. Orders not yet recorded as
submitted are left to their submission job, which records the POS's answer itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import PosNotConfigured
from ridgeline.jobs import enqueue
from ridgeline.models.order import Order, OrderStatus, TransitionSource
from ridgeline.models.pos_event import PosEvent
from ridgeline.orders import repository
from ridgeline.orders.repository import EVERYWHERE
from ridgeline.orders.status import can_move, transition
from ridgeline.orders.submission import RECEIPT_STATUS, describe
from ridgeline.pos.base import OrderUpdate, PosOrderStatus
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnusable
from ridgeline.pos.errors import PosError
from ridgeline.pos.registry import webhook_source
from ridgeline.resilience import CircuitOpen

log = structlog.get_logger(__name__)

POLL_JOB = "orders.poll"
ENQUEUE_POLLS = "orders.enqueue_polls"
POLL_EVERY_S = 30.0
POLL_BATCH = 50  # orders read per store and run; the rest wait for the next tick
OPEN = (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.READY)


# --- applying a status ---------------------------------------------------------------------


class Applied:
    """What applying a POS status to an order did (also the event outcomes' words)."""

    MOVED = "order moved"
    UNCHANGED = "order unchanged"
    NOT_APPLIED = "status not applied"  # backward, or not allowed from the order's status
    NOT_OPEN = "order not open"  # not yet recorded as submitted, or already final


async def apply_status(
    session: AsyncSession,
    order: Order,
    status: PosOrderStatus,
    vendor_status: str,
    *,
    at: datetime,
) -> str:
    """Applies the POS's status to `order` (locked in `session`), forward only."""
    target = RECEIPT_STATUS[status]
    if order.status not in OPEN:
        log.info(
            "order_pos_status_ignored",
            order_id=str(order.id),
            status=order.status.value,
            vendor_status=vendor_status,
        )
        return Applied.NOT_OPEN
    if target is order.status:
        if order.pos_vendor_status != vendor_status:
            order.pos_vendor_status = vendor_status
            order.updated_at = at
        return Applied.UNCHANGED
    if not can_move(order.status, target):
        log.warning(
            "order_pos_status_not_applied",
            order_id=str(order.id),
            status=order.status.value,
            pos_status=target.value,
            vendor_status=vendor_status,
        )
        return Applied.NOT_APPLIED
    order.pos_vendor_status = vendor_status
    if target is OrderStatus.REJECTED:
        order.failure_reason = f"the POS refused the order ({vendor_status})"
    await transition(
        session, order, target, source=TransitionSource.POS, at=at, reason=vendor_status
    )
    log.info(
        "order_pos_status_applied",
        order_id=str(order.id),
        status=target.value,
        vendor_status=vendor_status,
    )
    return Applied.MOVED


# --- polling -------------------------------------------------------------------------------


async def enqueue_polls(session: AsyncSession, *, clock: Clock) -> int:
    """Queues one `orders.poll` per store with open orders, once per store and tick."""
    now = clock.now()
    tick = int(now.timestamp() // POLL_EVERY_S)
    store_ids = await repository.stores_with_open_orders(session, OPEN)
    queued = 0
    for store_id in store_ids:
        job = await enqueue(
            session,
            POLL_JOB,
            {"store_id": str(store_id)},
            clock=clock,
            dedupe_key=f"{POLL_JOB}:{store_id}@{tick}",
            max_attempts=1,  # the next tick polls again
        )
        queued += job is not None
    return queued


@dataclass(frozen=True, slots=True)
class PollResult:
    read: int = 0
    moved: int = 0
    failed: int = 0


async def poll_store(
    database: Database,
    connector: PosConnector,
    store_id: uuid.UUID,
    *,
    clock: Clock,
    batch: int = POLL_BATCH,
) -> PollResult:
    """One run of `orders.poll`: reads the store's open orders' statuses at the POS (no
    transaction open meanwhile) and applies the changes. A POS error on one order leaves it for
    the next tick; an open breaker ends the run."""
    async with database.transaction(write=False) as session:
        store = await repository.store(session, EVERYWHERE, store_id)
        open_orders = await repository.open_orders(session, store_id, OPEN, limit=batch)
        rows = [(order.id, order.pos_order_id) for order in open_orders]
    if store is None or not rows:
        return PollResult()
    try:
        adapter = connector.adapter_for(store)
    except (PosNotConfigured, CredentialsUnusable) as exc:
        log.warning("order_poll_skipped", store_id=str(store_id), reason=describe(exc))
        return PollResult()
    read = moved = failed = 0
    for order_id, pos_order_id in rows:
        assert pos_order_id is not None
        try:
            receipt = await adapter.order_status(pos_order_id)
        except CircuitOpen as exc:
            log.warning("order_poll_stopped", store_id=str(store_id), reason=describe(exc))
            failed += 1
            break
        except PosError as exc:
            # Unreachable, 5xx, an unknown vendor status (a protocol error): the next tick.
            log.warning(
                "order_poll_failed",
                order_id=str(order_id),
                pos_order_id=pos_order_id,
                reason=describe(exc),
            )
            failed += 1
            continue
        read += 1
        async with database.transaction() as session:
            order = await repository.order(session, EVERYWHERE, order_id, for_update=True)
            if order is None or order.pos_order_id != pos_order_id:
                continue
            applied = await apply_status(
                session, order, receipt.status, receipt.vendor_status, at=clock.now()
            )
        moved += applied == Applied.MOVED
    log.info("order_poll_done", store_id=str(store_id), read=read, moved=moved, failed=failed)
    return PollResult(read=read, moved=moved, failed=failed)


# --- pushed events -------------------------------------------------------------------------


def read_update(source: str, payload: Mapping[str, Any]) -> OrderUpdate | None:
    """The order update in a stored event's payload, read by the adapter of the POS that pushed
    it; None when that POS pushes nothing."""
    webhooks = webhook_source(source)
    return webhooks.read_order_update(payload) if webhooks is not None else None


class EventOutcome:
    UNREADABLE = "no order in the event"
    UNKNOWN_ORDER = "unknown order"
    OTHER_POS_ORDER = "another POS order"
    UNKNOWN_STATUS = "unknown vendor status"


async def _find_order(
    session: AsyncSession, store_id: uuid.UUID, update: OrderUpdate
) -> Order | None:
    """Our order, by our reference (which travels on the POS order) or the POS's order id."""
    orders = await repository.orders_matching(
        session, store_id, reference=update.reference, pos_order_id=update.pos_order_id
    )
    by_reference = [o for o in orders if update.reference and o.reference == update.reference]
    found = by_reference or orders
    return found[0] if found else None


async def track_event(session: AsyncSession, event: PosEvent, *, clock: Clock) -> str:
    """Applies a stored order event to our order, in the caller's transaction (which marks the
    event processed). Returns what it did; nothing here is an error of the event."""
    update = read_update(event.source, event.payload)
    if update is None or not (update.reference or update.pos_order_id):
        return EventOutcome.UNREADABLE
    order = await _find_order(session, event.store_id, update)
    if order is None:
        log.info(
            "order_event_unknown_order",
            event_id=str(event.id),
            reference=update.reference,
            pos_order_id=update.pos_order_id,
        )
        return EventOutcome.UNKNOWN_ORDER
    if (
        order.pos_order_id is not None
        and update.pos_order_id is not None
        and order.pos_order_id != update.pos_order_id
    ):
        # A POS order carrying our reference that is not the one we track (a stray).
        log.warning(
            "order_event_other_pos_order",
            order_id=str(order.id),
            pos_order_id=update.pos_order_id,
        )
        return EventOutcome.OTHER_POS_ORDER
    vendor_status, status = update.vendor_status, update.status
    if status is None or vendor_status is None:
        log.warning(
            "order_event_unknown_status",
            order_id=str(order.id),
            vendor_status=vendor_status,
        )
        return EventOutcome.UNKNOWN_STATUS
    return await apply_status(session, order, status, vendor_status, at=clock.now())
