"""What the order API reads and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
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


class OrderCreate(RequestBody):
    items: list[OrderItemIn] = Field(min_length=1, max_length=_MAX_LINES_ACCEPTED)
    customer_name: str | None = Field(default=None, min_length=1, max_length=100)
    customer_phone: str | None = Field(
        default=None, max_length=32, pattern=r"^\+?[0-9][0-9 ().-]{5,30}$"
    )
    is_medical: bool = False

    @model_validator(mode="after")
    def _one_line_per_variant(self) -> Self:
        variants = [item.variant_id for item in self.items]
        if len(set(variants)) != len(variants):
            raise ValueError("each variant may appear on one line only; add up the quantities")
        return self


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
