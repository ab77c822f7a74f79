"""The order status machine: the allowed transitions, and the one function that makes one.

Every change of an order's status goes through `transition`, which checks it against the table,
records it (`order_transitions`, with time, source and reason) and puts an `order.status` event
on the order's stream and the store's stream, all in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.order import Order, OrderStatus, OrderTransition, TransitionSource
from ridgeline.orders.metrics import (
    ACCEPTED_BY_POS,
    NOT_YET_ACCEPTED,
    ORDER_STATUS_CHANGES,
    ORDER_SUBMIT_LATENCY,
)
from ridgeline.realtime import streams

S = OrderStatus
TERMINAL = frozenset({S.COMPLETED, S.REJECTED, S.FAILED, S.CANCELLED})

# Forward moves may skip steps (a POS can answer `accepted` at once); terminal states are final.
ALLOWED: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset({S.RECEIVED}),
    S.RECEIVED: frozenset(
        {S.QUEUED, S.SUBMITTED, S.ACCEPTED, S.READY, S.COMPLETED, S.REJECTED, S.FAILED}
        | {S.CANCELLED}
    ),
    S.QUEUED: frozenset(
        {S.SUBMITTED, S.ACCEPTED, S.READY, S.COMPLETED, S.REJECTED, S.FAILED, S.CANCELLED}
    ),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.READY, S.COMPLETED, S.REJECTED, S.FAILED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.READY, S.COMPLETED, S.REJECTED, S.CANCELLED}),
    S.READY: frozenset({S.COMPLETED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    """A status change the machine does not allow: always a bug in the caller."""

    def __init__(self, from_status: OrderStatus | None, to_status: OrderStatus) -> None:
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(f"an order cannot go from {from_status} to {to_status}")


# The one way out of a terminal state: an operator retries a `failed` order, which goes back to
# `queued` and is submitted again (same reference and POS key, looked up before resubmitting).
OPERATOR_RETRY = (S.FAILED, S.QUEUED)


def can_move(
    from_status: OrderStatus | None,
    to_status: OrderStatus,
    *,
    source: TransitionSource | None = None,
) -> bool:
    if source is TransitionSource.OPERATOR and (from_status, to_status) == OPERATOR_RETRY:
        return True
    return to_status in ALLOWED[from_status]


def event_data(order: Order, *, source: TransitionSource, reason: str | None) -> dict[str, Any]:
    """What an `order.status` event carries: enough for a kiosk to show the order's state."""
    return {
        "order_id": str(order.id),
        "reference": order.reference,
        "store_id": str(order.store_id),
        "kiosk_id": str(order.kiosk_id) if order.kiosk_id else None,
        "status": order.status.value,
        "source": source.value,
        "reason": reason,
        "pos_order_id": order.pos_order_id,
        "submit_deadline_at": (
            order.submit_deadline_at.isoformat() if order.submit_deadline_at else None
        ),
        "subtotal_cents": order.subtotal_cents,
        "currency": order.currency,
    }


async def transition(
    session: AsyncSession,
    order: Order,
    to_status: OrderStatus,
    *,
    source: TransitionSource,
    at: datetime,
    reason: str | None = None,
    initial: bool = False,
) -> OrderTransition:
    """Moves `order` (loaded, and locked where it matters, in `session`) to `to_status`.
    `initial` records the first status of a new order."""
    from_status = None if initial else order.status
    if not can_move(from_status, to_status, source=source):
        raise IllegalTransition(from_status, to_status)
    order.status = to_status
    order.status_changed_at = at
    order.updated_at = at
    row = OrderTransition(
        organization_id=order.organization_id,
        store_id=order.store_id,
        order_id=order.id,
        from_status=from_status,
        to_status=to_status,
        source=source,
        reason=reason,
        at=at,
    )
    session.add(row)
    # Counted when made: a caller whose transaction then rolls back has counted one too many,
    # which is rare and errs on the side of showing activity.
    ORDER_STATUS_CHANGES.labels(status=to_status.value, source=source.value).inc()
    if from_status in NOT_YET_ACCEPTED and to_status in ACCEPTED_BY_POS:
        ORDER_SUBMIT_LATENCY.observe(max(0.0, (at - order.created_at).total_seconds()))
    data = event_data(order, source=source, reason=reason)
    await streams.append(session, streams.order_stream(order.id), "order.status", data, at=at)
    await streams.append(session, streams.store_stream(order.store_id), "order.status", data, at=at)
    return row
