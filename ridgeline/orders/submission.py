"""Submitting an order to its store's POS: one attempt, and the `orders.submit` job's work.

Exactly one POS order per order (docs/reliability.md point 8), however often this runs:

- An attempt first takes the order's submission lease and raises `submit_attempts`, in its own
  committed transaction: no other run calls the POS for the order while the lease holds, and
  above zero attempts an earlier one may have reached the POS without our learning the answer.
- Where the POS finds orders by our reference (an `OrderLookup` adapter: Treez, BLAZE, Flowhub),
  an attempt after the first looks the order up first, and submits only if the POS has none.
- Elsewhere the POS dedupes on our key (an `OrderDedupe` adapter: Dutchie): every attempt
  submits with the order's stable key, and the POS returns the order it already has.

No transaction is open while the POS is called. A POS refusal ends the order `rejected` with its
reason and an operator alert; a passing failure (unreachable, timeout, 5xx, 429, breaker open,
credentials refused) makes it `queued` with the reason, and the store's queue (queue.py) sends it
again, in order, until its deadline.

An order that was cancelled or failed after an attempt may have reached the POS is cleaned up by
a later run of the job: it looks the order up and cancels what it finds (`_cancel_stray`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts.service import raise_alert
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import NotFound, PosNotConfigured
from ridgeline.jobs import RetryLater, enqueue
from ridgeline.models.order import Order, OrderItem, OrderStatus, TransitionSource
from ridgeline.models.store import Store
from ridgeline.orders import repository
from ridgeline.orders.repository import EVERYWHERE
from ridgeline.orders.service import (
    SUBMIT_JOB,
    SUBMIT_JOB_MAX_ATTEMPTS,
    SUBMIT_PRIORITY,
    submit_dedupe_key,
)
from ridgeline.orders.status import can_move, transition
from ridgeline.pos.base import (
    PosOrderItem,
    PosOrderReceipt,
    PosOrderRequest,
    PosOrderStatus,
)
from ridgeline.pos.capabilities import OrderLookup, OrderSink, PosAdapter
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnusable
from ridgeline.pos.errors import PosError, PosNotFound, PosRejected
from ridgeline.resilience import CircuitOpen
from ridgeline.webhooks.service import webhook_url

log = structlog.get_logger(__name__)

# An attempt's POS calls are cut off at this share of the lease (RIDGELINE_ORDER_SUBMIT_LEASE_S),
# so no attempt outlives its lease: a lease that ran out means its holder is gone.
ATTEMPT_SHARE_OF_LEASE = 0.8
# How long after a stray's possible creation its cleanup looks for it.
STRAY_CHECK_DELAY_S = 30.0

SUBMITTABLE = (OrderStatus.RECEIVED, OrderStatus.QUEUED)

RECEIPT_STATUS = {
    PosOrderStatus.SUBMITTED: OrderStatus.SUBMITTED,
    PosOrderStatus.ACCEPTED: OrderStatus.ACCEPTED,
    PosOrderStatus.READY: OrderStatus.READY,
    PosOrderStatus.COMPLETED: OrderStatus.COMPLETED,
    PosOrderStatus.REJECTED: OrderStatus.REJECTED,
    PosOrderStatus.CANCELLED: OrderStatus.CANCELLED,
}


class Outcome(StrEnum):
    """How one attempt ended."""

    SUBMITTED = "submitted"  # the POS has it (or answered with a later status)
    REJECTED = "rejected"  # the POS refused it: terminal
    DEFERRED = "deferred"  # a passing failure: the order is `queued`
    UNAVAILABLE = "unavailable"  # the breaker is open (or no POS to call): `queued`
    BUSY = "busy"  # another run holds its lease, or it is no longer to be sent


def describe(exc: BaseException) -> str:
    code = getattr(exc, "code", type(exc).__name__)
    return f"{code}: {exc}"[:1000]


async def submit(
    database: Database, connector: PosConnector, order_id: uuid.UUID, *, clock: Clock
) -> None:
    """One run of `orders.submit`: the order's first attempt, unless its store already has
    orders waiting for the POS (then it waits behind them), or the cleanup of an order that
    was cancelled or failed after an attempt (`_cancel_stray`)."""
    async with database.transaction(write=False) as session:
        order = await repository.order(session, EVERYWHERE, order_id)
        if order is None:
            log.info("order_submit_order_gone", order_id=str(order_id))
            return
        waiting = await repository.queued_ahead(session, order)
    if order.status in (OrderStatus.CANCELLED, OrderStatus.FAILED):
        await _cancel_stray(database, connector, order, clock=clock)
        return
    if order.status not in SUBMITTABLE:
        return  # already submitted by an earlier run whose success was not recorded
    if waiting:
        await _wait_in_line(database, order_id, waiting, clock=clock)
        return
    await attempt(database, connector, order_id, clock=clock)


async def attempt(
    database: Database, connector: PosConnector, order_id: uuid.UUID, *, clock: Clock
) -> Outcome:
    """Sends the order to its POS once (a lookup first where an earlier attempt may have
    reached it) and records what came of it."""
    async with database.transaction(write=False) as session:
        order = await repository.order(session, EVERYWHERE, order_id)
        if order is None or order.status not in SUBMITTABLE:
            return Outcome.BUSY
        store = await repository.store(session, EVERYWHERE, order.store_id)
        items = await repository.items(session, EVERYWHERE, order_id)
    if store is None:
        return Outcome.BUSY
    try:
        adapter = submission_adapter(connector, store)
    except (PosNotConfigured, CredentialsUnusable) as exc:
        await _defer(database, order_id, describe(exc), clock=clock, held=False)
        return Outcome.UNAVAILABLE
    lease_s = connector.settings.order_submit_lease_s
    claimed = await _claim(database, order_id, clock.now(), lease_s=lease_s)
    if claimed is None:
        return Outcome.BUSY
    try:
        async with asyncio.timeout(lease_s * ATTEMPT_SHARE_OF_LEASE):
            receipt = None
            if claimed.submit_attempts > 1 and isinstance(adapter, OrderLookup):
                receipt = await adapter.find_order(claimed.reference)
            if receipt is None:
                request = pos_request(claimed, items, postback_url=postback_url(connector, store))
                receipt = await adapter.submit_order(request)
    except (PosRejected, PosNotFound) as exc:
        await _reject(database, order_id, f"the POS refused the order: {exc.message}", clock=clock)
        return Outcome.REJECTED
    except CircuitOpen as exc:
        # Refused before it left; and a call that creates something is only retried after
        # tries the POS cannot have acted on, so the breaker opening between them means the
        # same: this attempt made nothing at the POS, and does not count.
        await _defer(database, order_id, describe(exc), clock=clock, held=True, sent=False)
        return Outcome.UNAVAILABLE
    except PosError as exc:
        await _defer(database, order_id, describe(exc), clock=clock, held=True)
        return Outcome.DEFERRED
    except TimeoutError:
        reason = f"ATTEMPT_TIMEOUT: the attempt took over {lease_s * ATTEMPT_SHARE_OF_LEASE:g} s"
        await _defer(database, order_id, reason, clock=clock, held=True)
        return Outcome.DEFERRED
    except BaseException:
        # A bug, the job's timeout, a shutdown: free the order for the next run (which looks
        # it up first) rather than leave it locked until the lease runs out.
        await _release(database, order_id)
        raise
    await _record_receipt(database, adapter, order_id, receipt, clock=clock)
    return Outcome.SUBMITTED


def submission_adapter(connector: PosConnector, store: Store) -> PosAdapter[Any]:
    # The resilient transport resends a submission only when the POS cannot have acted on it
    # (never connected, 429, 503: see resilience/retry.py); after a lost answer the next attempt
    # of this job looks the order up by reference first (or, where the POS dedupes on our key,
    # resends the same key).
    return connector.adapter_for(store)


def postback_url(connector: PosConnector, store: Store) -> str:
    """Where a POS that calls back per order (Flowhub's `postbackUrl`) posts its status
    changes: the store's webhook URL, which order tracking reads (see orders/tracking.py)."""
    return webhook_url(connector.settings, store, connector.cipher)


def pos_request(
    order: Order, items: list[OrderItem], *, postback_url: str | None = None
) -> PosOrderRequest:
    return PosOrderRequest(
        reference=order.reference,
        idempotency_key=order.pos_idempotency_key,
        items=[
            PosOrderItem(
                item.product_external_id,
                item.variant_external_id,
                item.quantity,
                item.unit_price_cents,
            )
            for item in items
        ],
        customer_name=order.customer_name,
        customer_phone=order.customer_phone,
        notes=f"Ridgeline kiosk order {order.reference}",
        postback_url=postback_url,
    )


async def _claim(
    database: Database, order_id: uuid.UUID, now: datetime, *, lease_s: float
) -> Order | None:
    """Takes the order's submission lease and counts the attempt, committed before the POS is
    called. None when another run holds the lease or the order left the submittable states."""
    async with database.transaction() as session:
        order = await repository.order(session, EVERYWHERE, order_id, for_update=True)
        if order is None or order.status not in SUBMITTABLE:
            return None
        if order.submit_lease_until is not None and order.submit_lease_until > now:
            return None
        order.submit_attempts += 1
        order.submit_lease_until = now + timedelta(seconds=lease_s)
        order.updated_at = now
        return order


async def _release(database: Database, order_id: uuid.UUID) -> None:
    async with database.transaction() as session:
        order = await repository.order(session, EVERYWHERE, order_id, for_update=True)
        if order is not None:
            order.submit_lease_until = None


async def _locked(session: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await repository.order(session, EVERYWHERE, order_id, for_update=True)
    if order is None:
        raise NotFound("order", order_id)
    return order


async def _wait_in_line(
    database: Database, order_id: uuid.UUID, waiting: int, *, clock: Clock
) -> None:
    """Queues a new order behind its store's waiting ones: they go to the POS first."""
    reason = f"waiting behind {waiting} earlier order(s) of this store for the POS"
    now = clock.now()
    async with database.transaction() as session:
        order = await _locked(session, order_id)
        if order.status is not OrderStatus.RECEIVED:
            return
        await _queue(session, order, reason, at=now)
    log.info("order_queued", order_id=str(order_id), reason=reason)


async def _queue(session: AsyncSession, order: Order, reason: str, *, at: datetime) -> None:
    """Notes why the order waits; a `received` one becomes `queued` (the kiosk is told why)."""
    order.failure_reason = reason
    order.updated_at = at
    if order.status is OrderStatus.RECEIVED:
        await transition(
            session, order, OrderStatus.QUEUED, source=TransitionSource.WORKER, at=at, reason=reason
        )


async def _defer(
    database: Database,
    order_id: uuid.UUID,
    reason: str,
    *,
    clock: Clock,
    held: bool,
    sent: bool = True,
) -> None:
    """Records a passing failure: the order is `queued` with the reason (the kiosk hears of it)
    and its lease, if `held`, is freed for the store's queue to send it again. An attempt that
    was never `sent` is taken off `submit_attempts`."""
    now = clock.now()
    async with database.transaction() as session:
        order = await _locked(session, order_id)
        if held:
            order.submit_lease_until = None
            if not sent:
                order.submit_attempts = max(order.submit_attempts - 1, 0)
        if order.status not in SUBMITTABLE:
            # Cancelled (or failed) while the POS was being called: the call may have reached
            # it, so look for a stray once the POS had time to settle.
            if held:
                await enqueue_stray_check(session, order, clock=clock)
            return
        await _queue(session, order, reason, at=now)
        attempts = order.submit_attempts
    log.warning("order_submit_deferred", order_id=str(order_id), reason=reason, attempts=attempts)


async def _reject(database: Database, order_id: uuid.UUID, reason: str, *, clock: Clock) -> None:
    now = clock.now()
    async with database.transaction() as session:
        order = await _locked(session, order_id)
        order.submit_lease_until = None
        if not can_move(order.status, OrderStatus.REJECTED):
            return
        order.failure_reason = reason
        await transition(
            session, order, OrderStatus.REJECTED, source=TransitionSource.POS, at=now, reason=reason
        )
        await alert_order_ended(session, order, kind="order_rejected", reason=reason, at=now)
    log.warning("order_rejected", order_id=str(order_id), reason=reason)


async def alert_order_ended(
    session: AsyncSession, order: Order, *, kind: str, reason: str, at: datetime
) -> None:
    """Tells operators that an order ended without reaching the POS (docs/reliability.md 9)."""
    await raise_alert(
        session,
        organization_id=order.organization_id,
        store_id=order.store_id,
        kind=kind,
        title=f"Order {order.reference} {order.status.value}: it will not reach the POS",
        message=reason,
        details={
            "order_id": str(order.id),
            "reference": order.reference,
            "kiosk_id": str(order.kiosk_id) if order.kiosk_id else None,
            "status": order.status.value,
            "submit_attempts": order.submit_attempts,
            "subtotal_cents": order.subtotal_cents,
            "currency": order.currency,
        },
        at=at,
    )


async def enqueue_stray_check(session: AsyncSession, order: Order, *, clock: Clock) -> None:
    """Queues the cleanup of an order that left the submittable states after an attempt may
    have reached the POS (see `_cancel_stray`). Nothing when nothing was ever sent."""
    if order.submit_attempts == 0 or order.pos_order_id is not None:
        return
    await enqueue(
        session,
        SUBMIT_JOB,
        {"order_id": str(order.id)},
        clock=clock,
        dedupe_key=f"{submit_dedupe_key(order.id)}:stray:{order.submit_attempts}",
        max_attempts=SUBMIT_JOB_MAX_ATTEMPTS,
        priority=SUBMIT_PRIORITY,
        run_at=clock.now() + timedelta(seconds=STRAY_CHECK_DELAY_S),
    )


async def _record_receipt(
    database: Database,
    adapter: OrderSink,
    order_id: uuid.UUID,
    receipt: PosOrderReceipt,
    *,
    clock: Clock,
) -> None:
    now = clock.now()
    async with database.transaction() as session:
        order = await _locked(session, order_id)
        order.pos_order_id = receipt.pos_order_id
        order.pos_vendor_status = receipt.vendor_status
        if receipt.total_cents is not None:
            order.pos_total_cents = receipt.total_cents
        order.submitted_at = order.submitted_at or now
        order.submit_lease_until = None
        order.updated_at = now
        # Cancelled by the kiosk while the POS was taking it (a deadline never fails an order
        # whose lease is held, but a stray is a stray however it came).
        ended_meanwhile = order.status in (OrderStatus.CANCELLED, OrderStatus.FAILED)
        target = RECEIPT_STATUS[receipt.status]
        if not ended_meanwhile and order.status is not target and can_move(order.status, target):
            order.failure_reason = None
            await transition(
                session,
                order,
                target,
                source=TransitionSource.WORKER,
                at=now,
                reason=f"submitted to the POS as {receipt.pos_order_id} ({receipt.vendor_status})",
            )
    log.info(
        "order_submitted",
        order_id=str(order_id),
        pos_order_id=receipt.pos_order_id,
        vendor_status=receipt.vendor_status,
    )
    if ended_meanwhile:
        # The kiosk was told the order will not be made: take it back at the POS.
        await _cancel_at_pos(database, adapter, order_id, receipt.pos_order_id, clock=clock)


async def _cancel_stray(
    database: Database, connector: PosConnector, order: Order, *, clock: Clock
) -> None:
    """An order that was cancelled, or failed its deadline, after an attempt may have put it at
    the POS: make sure no live POS order is left behind."""
    if order.submit_attempts == 0:
        return  # nothing was ever sent
    if order.submit_lease_until is not None and order.submit_lease_until > clock.now():
        # An attempt is still out: its own ending cancels what it made (`_record_receipt`).
        raise RetryLater(STRAY_CHECK_DELAY_S, "an attempt for the order is still out")
    async with database.transaction(write=False) as session:
        store = await repository.store(session, EVERYWHERE, order.store_id)
        items = await repository.items(session, EVERYWHERE, order.id)
    if store is None:
        return
    try:
        adapter = submission_adapter(connector, store)
        pos_order_id = order.pos_order_id
        if pos_order_id is None:
            receipt: PosOrderReceipt | None
            if isinstance(adapter, OrderLookup):
                receipt = await adapter.find_order(order.reference)
            else:
                # An `OrderDedupe`, without lookup by reference: the same key returns the order
                # if the POS has it (and creates it if not, which the cancel below takes back).
                receipt = await adapter.submit_order(
                    pos_request(order, items, postback_url=postback_url(connector, store))
                )
            if receipt is None:
                return
            pos_order_id = receipt.pos_order_id
    except (PosRejected, PosNotFound):
        return
    except (PosError, CircuitOpen, PosNotConfigured, CredentialsUnusable) as exc:
        raise RetryLater(STRAY_CHECK_DELAY_S, describe(exc)) from None
    await _cancel_at_pos(database, adapter, order.id, pos_order_id, clock=clock)


async def _cancel_at_pos(
    database: Database,
    adapter: OrderSink,
    order_id: uuid.UUID,
    pos_order_id: str,
    *,
    clock: Clock,
) -> None:
    try:
        receipt = await adapter.cancel_order(pos_order_id)
    except (PosRejected, PosNotFound) as exc:
        log.warning("order_stray_cancel_refused", order_id=str(order_id), error=exc.message)
        return
    except (PosError, CircuitOpen) as exc:
        raise RetryLater(30.0, f"cancelling the POS order: {describe(exc)}") from None
    # A later run of the job (a redelivery) cancels again, which the POS answers with the same
    # cancelled order or a refusal; either way nothing is left open.
    async with database.transaction() as session:
        order = await _locked(session, order_id)
        order.pos_order_id = pos_order_id
        order.pos_vendor_status = receipt.vendor_status
        order.updated_at = clock.now()
    log.info(
        "order_stray_cancelled",
        order_id=str(order_id),
        pos_order_id=pos_order_id,
        vendor_status=receipt.vendor_status,
    )
