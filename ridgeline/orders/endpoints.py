"""HTTP surface of orders. Kiosks: place one (behind an `Idempotency-Key`), read it, cancel it.
Operators (docs/orders.md#operators): a store's orders, one order in full, and the retry of a
failed order."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import JSONResponse

from ridgeline.api.dependencies import (
    AuditDep,
    ClockDep,
    DatabaseDep,
    PosConnectorDep,
    SessionDep,
    SettingsDep,
)
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, ErrorEnvelope, Page, PageMeta, envelope
from ridgeline.auth.dependencies import KioskDep, StoreManagerDep, ViewerDep
from ridgeline.errors import ValidationFailed
from ridgeline.models.order import OrderStatus
from ridgeline.orders import cancellation, operators, service
from ridgeline.orders.schemas import (
    CartCheckIn,
    CartCheckOut,
    OperatorOrderDetail,
    OperatorOrderOut,
    OrderCreate,
    OrderOut,
)

router = APIRouter(prefix="/api/v1", tags=["orders"])

_ORDER_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorEnvelope} for code in (400, 409, 422)
}


# Required; printable ASCII without surrounding spaces, at most 255 characters
# (orders/idempotency.py).
_IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "A new random value (a UUID) per order, the same on retries.",
    "schema": {"type": "string", "pattern": "^[!-~]([ -~]{0,253}[!-~])?$"},
}


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[OrderOut],
    responses=_ORDER_ERRORS,
    openapi_extra={"parameters": [_IDEMPOTENCY_KEY_PARAMETER]},
)
async def create_order(
    body: OrderCreate,
    kiosk: KioskDep,
    database: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        # Optional to FastAPI, so that a missing key is our 400 IDEMPOTENCY_KEY_MISSING rather
        # than a 422; the schema says what a client must send (_IDEMPOTENCY_KEY_PARAMETER).
        Header(alias="Idempotency-Key", include_in_schema=False),
    ] = None,
) -> JSONResponse:
    """Place an order at the kiosk's store. Prices come from our catalog at this moment; an item
    with `expected_unit_price_cents` that no longer matches answers 409 `PRICE_CHANGED`.

    The same `Idempotency-Key` with the same body within 24 h answers the first request's
    status and body again (header `Idempotent-Replayed: true`) and creates nothing."""
    outcome = await service.place_order(
        database,
        kiosk,
        idempotency_key,
        body,
        clock=clock,
        deadline_s=settings.order_submit_deadline_s,
        takeover_s=settings.idempotency_takeover_s,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)


@router.post("/cart/check")
async def check_cart(
    body: CartCheckIn, kiosk: KioskDep, session: SessionDep, clock: ClockDep
) -> Envelope[CartCheckOut]:
    """Judge a cart as `POST /orders` would, without ordering: the lines at current prices
    with their taxes, what it uses of each purchase limit of the store's jurisdiction profile,
    the subtotal, the taxes and the total, and every problem (the error `POST /orders` would
    answer for it, all of them). Nothing is created; an order placed next is still checked
    again, and keeps the tax figures computed then."""
    return envelope(await service.check_cart(session, kiosk, body, clock=clock))


@router.get("/orders/{order_id}")
async def get_order(
    order_id: uuid.UUID, kiosk: KioskDep, session: SessionDep
) -> Envelope[OrderOut]:
    """One of this kiosk's orders, with its items and its status history."""
    return envelope(await service.kiosk_order(session, kiosk, order_id))


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    order_id: uuid.UUID,
    kiosk: KioskDep,
    database: DatabaseDep,
    connector: PosConnectorDep,
    clock: ClockDep,
) -> Envelope[OrderOut]:
    """Cancel one of this kiosk's orders: at once while it has not reached the POS, through the
    POS while it is submitted or accepted; 409 `ORDER_NOT_CANCELLABLE` later."""
    return envelope(
        await cancellation.cancel_order(database, connector, kiosk, order_id, clock=clock)
    )


# Operators

_STATUSES = ", ".join(status.value for status in OrderStatus)


def _statuses(values: list[str] | None) -> list[OrderStatus]:
    statuses: list[OrderStatus] = []
    for value in values or []:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            try:
                statuses.append(OrderStatus(name))
            except ValueError:
                raise ValidationFailed.for_fields(
                    [
                        {
                            "loc": ["query", "status"],
                            "message": f"Unknown status {name[:40]!r}; one of {_STATUSES}.",
                            "type": "enum",
                        }
                    ]
                ) from None
    return statuses


def _time(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return operators.as_utc(value)
    except (OverflowError, ValueError):
        raise ValidationFailed.for_fields(
            [{"loc": ["query", name], "message": "Time out of range.", "type": "datetime"}]
        ) from None


@router.get("/stores/{store_id}/orders")
async def list_store_orders(
    store_id: uuid.UUID,
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description=f"Only these statuses (repeat it, or a comma list): {_STATUSES}.",
        ),
    ] = None,
    kiosk_id: Annotated[uuid.UUID | None, Query(description="Only this kiosk's orders.")] = None,
    since: Annotated[
        datetime | None, Query(description="Created at or after this time (ISO 8601).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Created at or before this time (ISO 8601).")
    ] = None,
) -> Page[OperatorOrderOut]:
    """The store's orders, newest first, cursor paged; `?status=failed,queued` for the ones that
    need attention."""
    filters = operators.OrderFilters(
        statuses=_statuses(status),
        kiosk_id=kiosk_id,
        since=_time(since, "since"),
        until=_time(until, "until"),
    )
    result = await operators.list_orders(session, caller.scope, store_id, page, filters)
    return Page[OperatorOrderOut](
        data=result.items, meta=PageMeta(next_cursor=result.next_cursor, count=len(result.items))
    )


@router.get("/stores/{store_id}/orders/{order_id}")
async def get_store_order(
    store_id: uuid.UUID, order_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[OperatorOrderDetail]:
    """One of the store's orders with its items, every status change, and the store's POS calls
    to order endpoints during its submission (see the schema for how they are chosen)."""
    return envelope(await operators.order_detail(session, caller.scope, store_id, order_id))


@router.post(
    "/stores/{store_id}/orders/{order_id}/retry",
    responses={409: {"model": ErrorEnvelope}},
)
async def retry_store_order(
    store_id: uuid.UUID,
    order_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> Envelope[OperatorOrderDetail]:
    """Submit a `failed` order again: it goes back to `queued`, with a new deadline, and a new
    submission job is queued. The POS is asked for the order by its reference first, so a retry
    never makes a second POS order. 409 `ORDER_NOT_RETRYABLE` for any other status (`rejected`
    included)."""
    before = await operators.order_detail(session, caller.scope, store_id, order_id)
    detail = await operators.retry_order(
        session,
        caller,
        store_id,
        order_id,
        clock=clock,
        deadline_s=settings.order_submit_deadline_s,
    )
    await audit.record(
        caller,
        "order.retry",
        store_id=store_id,
        target=order_id,
        before=_order_state(before),
        after=_order_state(detail),
    )
    return envelope(detail)


def _order_state(detail: OperatorOrderDetail) -> dict[str, object]:
    """What a retry changes: the status and the deadline, not the items or the history."""
    return detail.model_dump(
        include={"status", "submit_deadline_at", "failure_reason", "submit_attempts"}
    )
