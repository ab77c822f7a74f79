"""What the operator order views answer (list, detail, retry)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from ridgeline.models.order import OrderStatus
from ridgeline.orders.schemas import OrderOut


class OperatorOrderOut(BaseModel):
    """One order in the store's list."""

    id: uuid.UUID
    reference: str
    status: OrderStatus
    kiosk_id: uuid.UUID | None
    subtotal_cents: int
    currency: str
    item_count: int = Field(description="The number of units ordered (the sum of the quantities).")
    pos_order_id: str | None
    failure_reason: str | None
    created_at: datetime
    status_changed_at: datetime


class OrderPosCallOut(BaseModel):
    """One attempt of one call to the store's POS on an order endpoint. Credentials, URLs and
    bodies are never recorded, so none are shown."""

    endpoint: str = Field(description="order_submit, order_lookup, order_status, order_cancel.")
    method: str
    status: int | None
    outcome: str = Field(description="success, rejected, or the error code (POS_TIMEOUT, ...).")
    error: str | None
    duration_ms: float
    attempt: int
    at: datetime


class OperatorOrderDetail(OrderOut):
    """An order with its items, its whole status history and the POS exchanges around it.

    `pos_calls` are not tied to the order itself: the POS call log records the store, the
    endpoint class and the outcome, not which order a call was for. They are the store's calls
    to order endpoints (submit, lookup, status, cancel) between the order's `created_at` and its
    last transition (no end while it is still `received` or `queued`), oldest first, at most
    `MAX_POS_CALLS`: with several orders in flight at once, calls for the others show too."""

    pos_vendor_status: str | None
    submit_attempts: int
    # An attempt is out at the POS until then (a crashed one is taken over after it).
    submit_lease_until: datetime | None
    pos_calls: list[OrderPosCallOut]
    pos_calls_truncated: bool = Field(description="More calls fell in the window than are shown.")
