"""Submitting an order to its store's POS: the `orders.submit` job's work.

Exactly one POS order per order (docs/reliability.md point 8), however often this runs:

- Before each call that may create the POS order, `submit_attempts` is raised in its own
  committed transaction. Above zero, an earlier attempt may have reached the POS without our
  learning the answer.
- Where the POS dedupes on our key (`adapter.dedupes_orders`, Dutchie), every attempt submits
  with the order's stable key, and the POS returns the order it already has.
- Elsewhere (Treez, BLAZE, Flowhub), an attempt after the first looks the order up by our
  reference first, and submits only if the POS has none.

No transaction is open while the POS is called. A POS refusal ends the order `rejected` with its
reason; a passing failure (unreachable, timeout, 5xx, 429, breaker open, credentials refused)
makes it `queued` with the reason and defers the job with backoff.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound, PosNotConfigured
from ridgeline.jobs import Backoff, PermanentFailure, RetryLater
from ridgeline.models.order import Order, OrderItem, OrderStatus, TransitionSource
from ridgeline.models.store import Store
from ridgeline.orders import repository
from ridgeline.orders.status import can_move, transition
from ridgeline.pos.base import (
    PosAdapter,
    PosOrderItem,
    PosOrderReceipt,
    PosOrderRequest,
    PosOrderStatus,
)
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnreadable
from ridgeline.pos.errors import PosError, PosNotFound, PosRejected
from ridgeline.resilience import CircuitOpen
from ridgeline.webhooks.service import webhook_url

log = structlog.get_logger(__name__)

# Deferrals after passing failures: full jitter over min(cap, base * 2^attempts).
RETRY_BACKOFF = Backoff(base_s=2.0, cap_s=300.0)
# Until a later slice bounds submission by a deadline (with an operator alert), an order whose
# POS stays away through this many attempts ends `failed` rather than retrying forever.
MAX_SUBMIT_ATTEMPTS = 40

_SUBMITTABLE = (OrderStatus.RECEIVED, OrderStatus.QUEUED)
_EVERYWHERE = TenantScope.everything()  # a job acts for the platform; it is given an order id

RECEIPT_STATUS = {
    PosOrderStatus.SUBMITTED: OrderStatus.SUBMITTED,
    PosOrderStatus.ACCEPTED: OrderStatus.ACCEPTED,
    PosOrderStatus.READY: OrderStatus.READY,
    PosOrderStatus.COMPLETED: OrderStatus.COMPLETED,
    PosOrderStatus.REJECTED: OrderStatus.REJECTED,
    PosOrderStatus.CANCELLED: OrderStatus.CANCELLED,
}


def describe(exc: BaseException) -> str:
    code = getattr(exc, "code", type(exc).__name__)
    return f"{code}: {exc}"[:1000]


async def submit(
    database: Database,
    connector: PosConnector,
    order_id: uuid.UUID,
    *,
    clock: Clock,
    rng: random.Random,
) -> None:
    """One run of `orders.submit`. Returns when the order's fate is recorded; raises
    `RetryLater` after a passing failure and `PermanentFailure` when the POS refused it."""
    async with database.transaction(write=False) as session:
        order = await repository.order(session, _EVERYWHERE, order_id)
        if order is None:
            log.info("order_submit_order_gone", order_id=str(order_id))
            return
        store = await repository.store(session, _EVERYWHERE, order.store_id)
        items = await repository.items(session, _EVERYWHERE, order_id)
    if store is None:
        return
    if order.status is OrderStatus.CANCELLED:
        await _cancel_stray(database, connector, order, items=items, clock=clock, rng=rng)
        return
    if order.status not in _SUBMITTABLE:
        return  # already submitted by an earlier run whose success was not recorded
    try:
        adapter = submission_adapter(connector, store)
    except (PosNotConfigured, CredentialsUnreadable) as exc:
        await _defer(database, order_id, describe(exc), clock=clock, rng=rng)
        return
    seen = order.submit_attempts
    await _claim_attempt(database, order_id, seen)
    try:
        receipt = None
        if seen > 0 and not adapter.dedupes_orders:
            receipt = await adapter.find_order(order.reference)
        if receipt is None:
            request = pos_request(order, items, postback_url=postback_url(connector, order))
            receipt = await adapter.submit_order(request)
    except (PosRejected, PosNotFound) as exc:
        reason = f"the POS refused the order: {exc.message}"
        await _finish(database, order_id, OrderStatus.REJECTED, reason, clock=clock)
        raise PermanentFailure(reason) from None
    except (PosError, CircuitOpen) as exc:
        await _defer(database, order_id, describe(exc), clock=clock, rng=rng)
        return
    await _record_receipt(database, adapter, order_id, receipt, clock=clock)


def submission_adapter(connector: PosConnector, store: Store) -> PosAdapter[Any]:
    # The resilient transport resends a submission only when the POS cannot have acted on it
    # (never connected, 429, 503: see resilience/retry.py); after a lost answer the next attempt
    # of this job looks the order up by reference first (or resends the same key to Dutchie).
    return connector.adapter_for(store)


def postback_url(connector: PosConnector, order: Order) -> str:
    """Where a POS that calls back per order (Flowhub's `postbackUrl`) posts its status
    changes: the store's webhook URL, which order tracking reads (see orders/tracking.py)."""
    return webhook_url(connector.settings, order.store_id)


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


async def _claim_attempt(database: Database, order_id: uuid.UUID, seen: int) -> None:
    """Raises `submit_attempts` (committed before the POS is called). Another run of the job or
    a cancel that got there first makes this one step back and look again shortly."""
    async with database.transaction() as session:
        result = await session.execute(
            update(Order)
            .where(
                Order.id == order_id,
                Order.submit_attempts == seen,
                Order.status.in_(_SUBMITTABLE),
            )
            .values(submit_attempts=seen + 1)
        )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        raise RetryLater(1.0, "the order changed while its submission started")


async def _locked(session: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await repository.order(session, _EVERYWHERE, order_id, for_update=True)
    if order is None:
        raise NotFound("order", order_id)
    return order


async def _defer(
    database: Database, order_id: uuid.UUID, reason: str, *, clock: Clock, rng: random.Random
) -> None:
    """Records a passing failure (`queued`, or `failed` once out of attempts) and raises
    `RetryLater` (or `PermanentFailure`); returns only if the order left the submittable states
    meanwhile (a cancel), when there is nothing left to do."""
    now = clock.now()
    async with database.transaction() as session:
        order = await _locked(session, order_id)
        if order.status not in _SUBMITTABLE:
            return
        order.failure_reason = reason
        order.updated_at = now
        attempts = order.submit_attempts
        if attempts >= MAX_SUBMIT_ATTEMPTS:
            final = f"not submitted after {attempts} attempts; last: {reason}"
            order.failure_reason = final
            await transition(
                session,
                order,
                OrderStatus.FAILED,
                source=TransitionSource.WORKER,
                at=now,
                reason=final,
            )
        elif order.status is OrderStatus.RECEIVED:
            await transition(
                session,
                order,
                OrderStatus.QUEUED,
                source=TransitionSource.WORKER,
                at=now,
                reason=reason,
            )
    log.warning("order_submit_deferred", order_id=str(order_id), reason=reason, attempts=attempts)
    if attempts >= MAX_SUBMIT_ATTEMPTS:
        raise PermanentFailure(final)
    raise RetryLater(RETRY_BACKOFF.delay_s(max(attempts, 1), rng), reason)


async def _finish(
    database: Database, order_id: uuid.UUID, status: OrderStatus, reason: str, *, clock: Clock
) -> None:
    now = clock.now()
    async with database.transaction() as session:
        order = await _locked(session, order_id)
        if can_move(order.status, status):
            order.failure_reason = reason
            await transition(
                session, order, status, source=TransitionSource.POS, at=now, reason=reason
            )
    log.warning("order_rejected", order_id=str(order_id), reason=reason)


async def _record_receipt(
    database: Database,
    adapter: PosAdapter[Any],
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
        order.submitted_at = order.submitted_at or now
        order.updated_at = now
        cancelled_meanwhile = order.status is OrderStatus.CANCELLED
        target = RECEIPT_STATUS[receipt.status]
        if (
            not cancelled_meanwhile
            and order.status is not target
            and can_move(order.status, target)
        ):
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
    if cancelled_meanwhile:
        # The kiosk cancelled while the POS was taking it: take it back at the POS.
        await _cancel_at_pos(database, adapter, order_id, receipt.pos_order_id, clock=clock)


async def _cancel_stray(
    database: Database,
    connector: PosConnector,
    order: Order,
    *,
    items: list[OrderItem],
    clock: Clock,
    rng: random.Random,
) -> None:
    """A cancelled order that an earlier attempt may have put at the POS: make sure no live POS
    order is left behind."""
    if order.submit_attempts == 0:
        return  # nothing was ever sent
    async with database.transaction(write=False) as session:
        store = await repository.store(session, _EVERYWHERE, order.store_id)
    if store is None:
        return
    try:
        adapter = submission_adapter(connector, store)
        pos_order_id = order.pos_order_id
        if pos_order_id is None:
            if adapter.dedupes_orders:
                # No lookup by reference: the same key returns the order if the POS has it
                # (and creates it if not, which the cancel below takes back).
                receipt: PosOrderReceipt | None = await adapter.submit_order(
                    pos_request(order, items, postback_url=postback_url(connector, order))
                )
            else:
                receipt = await adapter.find_order(order.reference)
            if receipt is None:
                return
            pos_order_id = receipt.pos_order_id
    except (PosRejected, PosNotFound):
        return
    except (PosError, CircuitOpen, PosNotConfigured, CredentialsUnreadable) as exc:
        raise RetryLater(RETRY_BACKOFF.delay_s(1, rng), describe(exc)) from None
    await _cancel_at_pos(database, adapter, order.id, pos_order_id, clock=clock)


async def _cancel_at_pos(
    database: Database,
    adapter: PosAdapter[Any],
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
