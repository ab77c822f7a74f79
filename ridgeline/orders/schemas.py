"""What the order API reads and answers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ridgeline.api.schemas import RequestBody
from ridgeline.models.order import Order, OrderStatus, TransitionSource

# Hard bounds on the shape of a request; the business limits (50 lines, 20 per line, ...) are
# checked by the service and answer ORDER_LIMIT_EXCEEDED with the limit that was hit.
_MAX_LINES_ACCEPTED = 500
_MAX_QUANTITY_ACCEPTED = 10_000


class OrderItemIn(RequestBody):
    product_id: uuid.UUID
    variant_id: uuid.UUID
    quantity: int = Field(ge=1, le=_MAX_QUANTITY_ACCEPTED)
    expected_unit_price_cents: int | None = Field(
        default=None,
        ge=0,
        le=100_000_000,
        description="The unit price the kiosk showed; a different current price answers "
        "409 PRICE_CHANGED instead of ordering.",
    )


class CartCheckIn(RequestBody):
    """A cart as a kiosk would order it: `POST /cart/check` reads it, and `POST /orders` reads
    it with the customer's details."""

    items: list[OrderItemIn] = Field(min_length=1, max_length=_MAX_LINES_ACCEPTED)
    is_medical: bool = Field(
        default=False,
        description="A medical patient's order: the medical purchase limits apply, and "
        "medical-only products may be ordered.",
    )

    @model_validator(mode="after")
    def _one_line_per_variant(self) -> Self:
        variants = [item.variant_id for item in self.items]
        if len(set(variants)) != len(variants):
            raise ValueError("each variant may appear on one line only; add up the quantities")
        return self


class OrderCreate(CartCheckIn):
    customer_name: str | None = Field(default=None, min_length=1, max_length=100)
    customer_phone: str | None = Field(
        default=None, max_length=32, pattern=r"^\+?[0-9][0-9 ().-]{5,30}$"
    )


class LineTaxOut(BaseModel):
    key: str = Field(description="The tax's key in the schedule (`totals.taxes`).")
    amount_cents: int


class TaxAmountOut(BaseModel):
    """One tax of the schedule and what the cart (or order) pays of it."""

    key: str
    name: str
    kind: str = Field(description="sales or excise.")
    basis: str = Field(description="price or weight.")
    rate: str = Field(description="A percent (price basis) or cents per `unit` (weight basis).")
    unit: str | None
    amount_cents: int


class CartLineOut(BaseModel):
    index: int
    product_id: uuid.UUID
    variant_id: uuid.UUID
    name: str
    variant_label: str
    quantity: int
    unit_price_cents: int = Field(description="The current price in our catalog.")
    line_total_cents: int = Field(description="Price times quantity, before taxes.")
    taxes: list[LineTaxOut] = Field(description="The taxes that fall on the line.")
    tax_cents: int
    total_cents: int = Field(description="The line with its taxes.")
    quantity_available: int


class LimitUsageOut(BaseModel):
    category: str
    unit: str
    period: str
    used: float
    limit: float
    remaining: float
    over_by: float


class CartProblemOut(BaseModel):
    """What `POST /orders` would answer for this cart, as its error's code, message and details."""

    code: str
    message: str
    details: dict[str, Any] | None


class CartTotalsOut(BaseModel):
    """What the shopper pays: the lines' prices, their taxes, and the sum of both."""

    subtotal_cents: int
    tax_cents: int
    total_cents: int = Field(description="subtotal_cents + tax_cents: what the shopper pays.")
    currency: str
    taxes: list[TaxAmountOut] = Field(description="Per tax of the schedule in effect.")
    tax_effective_from: date | None = Field(
        description="The first day of the schedule in effect; null: no taxes are computed."
    )
    tax_source: str = Field(description="store, profile (its state taxes) or none.")
    rounding: str = Field(description="line_half_up: each tax of each line, half up to a cent.")


class CartCheckOut(BaseModel):
    orderable: bool = Field(description="No problem: `POST /orders` would take this cart now.")
    profile: str | None = Field(description="The store's jurisdiction profile; null: no limits.")
    customer_type: str = Field(description="adult_use, or medical for `is_medical` carts.")
    lines: list[CartLineOut] = Field(description="The lines found in the catalog.")
    limits: list[LimitUsageOut]
    totals: CartTotalsOut
    problems: list[CartProblemOut]


class OrderItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID | None
    variant_id: uuid.UUID | None
    name: str
    variant_label: str
    quantity: int
    unit_price_cents: int


class OrderTransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: OrderStatus | None
    to_status: OrderStatus
    source: TransitionSource
    reason: str | None
    at: datetime


class OrderOut(BaseModel):
    """An order as its kiosk sees it: its items and its whole status history."""

    id: uuid.UUID
    reference: str
    store_id: uuid.UUID
    kiosk_id: uuid.UUID | None
    status: OrderStatus
    is_medical: bool
    customer_name: str | None
    customer_phone: str | None
    subtotal_cents: int
    tax_cents: int | None = Field(
        description="The taxes the shopper was shown; null: before taxes."
    )
    total_cents: int | None = Field(description="What the shopper was shown to pay.")
    taxes: list[TaxAmountOut] = Field(description="Per tax, as computed when it was taken.")
    currency: str
    pos_order_id: str | None
    failure_reason: str | None
    # While the order is `received` or `queued`: it is sent to the POS until then, or fails.
    submit_deadline_at: datetime | None
    submitted_at: datetime | None
    status_changed_at: datetime
    created_at: datetime
    updated_at: datetime
    items: list[OrderItemOut]
    transitions: list[OrderTransitionOut]

    @classmethod
    def of(cls, order: Order, **computed: Any) -> Self:
        """The view of `order`: its columns by field name, and what is not a column of the order
        (items, transitions, ...) given as keywords."""
        columns = {name: getattr(order, name) for name in cls.model_fields if name not in computed}
        return cls(**columns, **computed)


# What the operator order views answer (list, detail, retry)


class OperatorOrderOut(BaseModel):
    """One order in the store's list."""

    id: uuid.UUID
    reference: str
    status: OrderStatus
    kiosk_id: uuid.UUID | None
    subtotal_cents: int
    total_cents: int | None = Field(description="With taxes, as shown; null: before taxes.")
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
    tax_lines: list[OrderLineTaxesOut] = Field(description="Each line's taxes, by position.")
    tax_effective_from: date | None = Field(description="The schedule the order was taxed by.")
    tax_source: str | None = Field(description="store, profile or none; null: before taxes.")
    limits: OrderLimitsOut | None = Field(
        description="What it used of each purchase limit when taken; null: no profile then."
    )
    pos_total_cents: int | None = Field(
        description="The total the POS computed, where its answer to the submission has one."
    )
    pos_total_difference_cents: int | None = Field(
        description="pos_total_cents - total_cents, when both are known."
    )


class OrderLineTaxesOut(BaseModel):
    position: int
    taxes: list[LineTaxOut]
    tax_cents: int


class OrderLimitsOut(BaseModel):
    profile: str
    customer_type: str
    categories: list[LimitUsageOut]


OperatorOrderDetail.model_rebuild()
