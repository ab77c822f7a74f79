"""HTTP surface of kiosk orders: place one (behind an `Idempotency-Key`), read it, cancel it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, status
from fastapi.responses import JSONResponse

from ridgeline.api.dependencies import (
    ClockDep,
    DatabaseDep,
    PosConnectorDep,
    SessionDep,
    SettingsDep,
)
from ridgeline.api.schemas import Envelope, ErrorEnvelope, envelope
from ridgeline.auth.dependencies import KioskDep
from ridgeline.orders import cancellation, service
from ridgeline.orders.schemas import OrderCreate, OrderOut

router = APIRouter(prefix="/api/v1", tags=["orders"])

_ORDER_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorEnvelope} for code in (400, 409, 422)
}


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[OrderOut],
    responses=_ORDER_ERRORS,
)
async def create_order(
    body: OrderCreate,
    kiosk: KioskDep,
    database: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Required: a new random value (a UUID) per order, the same on retries.",
        ),
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
