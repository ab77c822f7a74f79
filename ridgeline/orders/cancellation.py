"""Cancelling a kiosk's order: locally while no POS order exists, through the POS after.

No transaction is open while the POS is called: the order is read, the POS asked, and the
outcome recorded in a second, short transaction.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.auth.principal import KioskPrincipal
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import (
    NotFound,
    OrderNotCancellable,
    PosCancelFailed,
    PosNotConfigured,
)
from ridgeline.models.order import Order, OrderStatus, TransitionSource
from ridgeline.orders import repository
from ridgeline.orders.schemas import OrderOut
from ridgeline.orders.service import order_view
from ridgeline.orders.status import can_move, transition
from ridgeline.orders.submission import enqueue_stray_check
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnusable
from ridgeline.pos.errors import PosError, PosNotFound, PosRejected
from ridgeline.resilience import CircuitOpen

# Not at the POS yet: nothing more is sent, and a stray from an attempt whose answer was lost
# is looked for and cancelled at the POS (submission.py).
_LOCAL = (OrderStatus.RECEIVED, OrderStatus.QUEUED)
# At the POS, and the POS may still take it back.
_AT_POS = (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED)


async def cancel_order(
    database: Database,
    connector: PosConnector,
    kiosk: KioskPrincipal,
    order_id: uuid.UUID,
    *,
    clock: Clock,
) -> OrderOut:
    """Cancels one of the kiosk's own orders. Cancelling a cancelled order answers it again."""
    scope = kiosk.scope
    async with database.transaction(write=False) as session:
        order = await repository.order(session, scope, order_id, kiosk_id=kiosk.kiosk_id)
        if order is None:
            raise NotFound("order", order_id)
        if order.status is OrderStatus.CANCELLED:
            return await order_view(session, scope, order)
        store = await repository.store(session, scope, order.store_id)
    if order.status in _LOCAL:
        async with database.transaction() as session:
            current = await _locked(session, kiosk, order_id)
            if current.status in _LOCAL:
                await transition(
                    session,
                    current,
                    OrderStatus.CANCELLED,
                    source=TransitionSource.KIOSK,
                    at=clock.now(),
                    reason="cancelled at the kiosk before it reached the POS",
                )
                # An earlier attempt may have reached the POS unheard: look for it there.
                await enqueue_stray_check(session, current, clock=clock)
                return await order_view(session, scope, current)
            order = current  # the submission got there first: cancel at the POS below
    if order.status not in _AT_POS or order.pos_order_id is None or store is None:
        raise OrderNotCancellable(details={"status": order.status.value})
    try:
        adapter = connector.adapter_for(store)
        receipt = await adapter.cancel_order(order.pos_order_id)
    except (PosRejected, PosNotFound) as exc:
        raise OrderNotCancellable(
            f"The POS refused to cancel the order: {exc.message}",
            details={"status": order.status.value, "reason": exc.message},
        ) from None
    except (PosError, CircuitOpen, PosNotConfigured, CredentialsUnusable) as exc:
        code = getattr(exc, "code", type(exc).__name__)
        raise PosCancelFailed(details={"reason": code}) from None
    async with database.transaction() as session:
        current = await _locked(session, kiosk, order_id)
        current.pos_vendor_status = receipt.vendor_status
        if can_move(current.status, OrderStatus.CANCELLED):
            await transition(
                session,
                current,
                OrderStatus.CANCELLED,
                source=TransitionSource.KIOSK,
                at=clock.now(),
                reason=f"cancelled at the kiosk; the POS answered {receipt.vendor_status}",
            )
        return await order_view(session, scope, current)


async def _locked(session: AsyncSession, kiosk: KioskPrincipal, order_id: uuid.UUID) -> Order:
    order = await repository.order(
        session, kiosk.scope, order_id, kiosk_id=kiosk.kiosk_id, for_update=True
    )
    if order is None:
        raise NotFound("order", order_id)
    return order
