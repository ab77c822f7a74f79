"""Orders as operators see them: a store's orders (newest first, filtered), one order with its
history and the POS exchanges around it, and the retry of a `failed` order."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.clock import Clock
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound, OrderNotRetryable
from ridgeline.jobs import enqueue
from ridgeline.models.order import Order, OrderStatus, TransitionSource
from ridgeline.orders import figures, repository
from ridgeline.orders.schemas import (
    OperatorOrderDetail,
    OperatorOrderOut,
    OrderItemOut,
    OrderPosCallOut,
    OrderTransitionOut,
)
from ridgeline.orders.service import (
    SUBMIT_JOB,
    SUBMIT_JOB_MAX_ATTEMPTS,
    SUBMIT_PRIORITY,
    submit_dedupe_key,
)
from ridgeline.orders.status import transition
from ridgeline.pos.base import EndpointClass
from ridgeline.stores.service import get_store

ORDER_ENDPOINTS = tuple(
    endpoint.value
    for endpoint in (
        EndpointClass.ORDER_SUBMIT,
        EndpointClass.ORDER_LOOKUP,
        EndpointClass.ORDER_STATUS,
        EndpointClass.ORDER_CANCEL,
    )
)
MAX_POS_CALLS = 200
# While an order may still be sent, its POS exchanges are not over: the window has no end.
_IN_SUBMISSION = (OrderStatus.RECEIVED, OrderStatus.QUEUED)


@dataclass(frozen=True, slots=True)
class OrderFilters:
    statuses: Collection[OrderStatus] = ()
    kiosk_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderPage:
    items: list[OperatorOrderOut]
    next_cursor: str | None


async def list_orders(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    page: PageRequest,
    filters: OrderFilters,
) -> OrderPage:
    """One page of the store's orders, newest first (by `created_at`, then id)."""
    store = await get_store(session, scope, store_id)
    statement = repository.store_orders(
        scope,
        store.id,
        statuses=filters.statuses,
        kiosk_id=filters.kiosk_id,
        since=filters.since,
        until=filters.until,
    )
    result = await paginate(session, statement, Order, page, newest_first=True)
    rows = list(result.items)
    next_cursor = result.next_cursor
    counts = await _item_counts(session, scope, [row.id for row in rows])
    return OrderPage(
        items=[
            OperatorOrderOut(
                id=row.id,
                reference=row.reference,
                status=row.status,
                kiosk_id=row.kiosk_id,
                subtotal_cents=row.subtotal_cents,
                total_cents=row.total_cents,
                currency=row.currency,
                item_count=counts.get(row.id, 0),
                pos_order_id=row.pos_order_id,
                failure_reason=row.failure_reason,
                created_at=row.created_at,
                status_changed_at=row.status_changed_at,
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


async def _item_counts(
    session: AsyncSession, scope: TenantScope, order_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not order_ids:
        return {}
    counts: dict[uuid.UUID, int] = {}
    for item in await repository.items_of(session, scope, order_ids):
        counts[item.order_id] = counts.get(item.order_id, 0) + item.quantity
    return counts


async def _store_order(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    order_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Order:
    store = await get_store(session, scope, store_id)
    order = await repository.order(session, scope, order_id, for_update=for_update)
    if order is None or order.store_id != store.id:
        raise NotFound("order", order_id)
    return order


async def order_detail(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, order_id: uuid.UUID
) -> OperatorOrderDetail:
    order = await _store_order(session, scope, store_id, order_id)
    return await _detail(session, scope, order)


async def _detail(session: AsyncSession, scope: TenantScope, order: Order) -> OperatorOrderDetail:
    items = await repository.items(session, scope, order.id)
    transitions = await repository.transitions(session, scope, order.id)
    end = None
    if order.status not in _IN_SUBMISSION:
        end = max([row.at for row in transitions], default=order.status_changed_at)
    calls, truncated = await _pos_calls(session, scope, order.store_id, order.created_at, end)
    return OperatorOrderDetail.of(
        order,
        taxes=figures.order_taxes(order),
        **figures.operator_figures(order),
        items=[OrderItemOut.model_validate(item) for item in items],
        transitions=[OrderTransitionOut.model_validate(row) for row in transitions],
        pos_calls=calls,
        pos_calls_truncated=truncated,
    )


async def _pos_calls(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    start: datetime,
    end: datetime | None,
) -> tuple[list[OrderPosCallOut], bool]:
    """The store's calls to order endpoints in [start, end] (no end: until now), oldest first.
    The call log does not say which order a call was for (see `OperatorOrderDetail`)."""
    rows = await repository.pos_calls(
        session, scope, store_id, ORDER_ENDPOINTS, start=start, end=end, limit=MAX_POS_CALLS + 1
    )
    calls = [
        OrderPosCallOut(
            endpoint=row.endpoint,
            method=row.method,
            status=row.status,
            outcome=row.outcome,
            error=row.error,
            duration_ms=row.duration_ms,
            attempt=row.attempt,
            at=row.at,
        )
        for row in rows[:MAX_POS_CALLS]
    ]
    return calls, len(rows) > MAX_POS_CALLS


def retry_dedupe_key(order_id: uuid.UUID) -> str:
    # A new key per retry: the first job's key stays taken by its (dead) row.
    return f"{submit_dedupe_key(order_id)}:retry:{uuid.uuid4().hex}"


async def retry_order(
    session: AsyncSession,
    caller: OperatorPrincipal,
    store_id: uuid.UUID,
    order_id: uuid.UUID,
    *,
    clock: Clock,
    deadline_s: float,
) -> OperatorOrderDetail:
    """Sends a `failed` order to its POS again: back to `queued` (source `operator`) with a new
    `orders.submit` job, in the caller's transaction. Anything else answers 409
    `ORDER_NOT_RETRYABLE`.

    The order keeps its reference and POS idempotency key. `submit_attempts` restarts at 1 if
    any attempt was ever made (0 otherwise): a full run of attempts again, and, above zero, the
    job looks the order up at the POS before submitting (Dutchie dedupes on the key), so a
    retry cannot make a second POS order. It has `deadline_s` from now to get there."""
    scope = caller.scope
    order = await _store_order(session, scope, store_id, order_id, for_update=True)
    if order.status is not OrderStatus.FAILED:
        raise OrderNotRetryable(
            f"Only a failed order can be retried; this one is {order.status.value}.",
            details={"status": order.status.value},
        )
    now = clock.now()
    order.submit_attempts = min(order.submit_attempts, 1)
    order.submit_deadline_at = now + timedelta(seconds=deadline_s)
    order.submit_lease_until = None
    await transition(
        session,
        order,
        OrderStatus.QUEUED,
        source=TransitionSource.OPERATOR,
        at=now,
        reason=f"retried by operator {caller.operator_id}",
    )
    await enqueue(
        session,
        SUBMIT_JOB,
        {"order_id": str(order.id)},
        clock=clock,
        dedupe_key=retry_dedupe_key(order.id),
        max_attempts=SUBMIT_JOB_MAX_ATTEMPTS,
        priority=SUBMIT_PRIORITY,
    )
    await session.flush()
    return await _detail(session, scope, order)


def as_utc(value: datetime) -> datetime:
    """A query time; one without an offset is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
