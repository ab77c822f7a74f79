"""Kiosk orders, their lines, their status history, and the idempotency keys of order requests.

See docs/orders.md for the status machine and the submission to the store's POS.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import (
    Base,
    EntityMixin,
    IdMixin,
    JSONDocument,
    StrEnumType,
    organization_column,
    store_column,
)


class OrderStatus(StrEnum):
    RECEIVED = "received"  # stored, its submission job queued with it
    QUEUED = "queued"  # waiting for its store's POS, retried in order until its deadline
    SUBMITTED = "submitted"  # the POS has it, not yet acknowledged
    ACCEPTED = "accepted"
    READY = "ready"
    COMPLETED = "completed"
    REJECTED = "rejected"  # the POS refused it (terminal)
    FAILED = "failed"  # it could not be submitted (terminal)
    CANCELLED = "cancelled"


class TransitionSource(StrEnum):
    KIOSK = "kiosk"
    WORKER = "worker"
    POS = "pos"
    OPERATOR = "operator"


class IdempotencyStatus(StrEnum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


class Order(EntityMixin, Base):
    """A kiosk's order: what was asked, at the prices of our catalog at submit time, and where its
    submission to the POS stands."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("store_id", "reference"),
        Index("ix_orders_store_created", "store_id", "created_at"),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column()
    # An order outlives the kiosk that took it.
    kiosk_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("kiosks.id", ondelete="SET NULL"), index=True
    )
    reference: Mapped[str] = mapped_column(String(20))  # `RL-` + 10 base32 characters
    status: Mapped[OrderStatus] = mapped_column(StrEnumType(OrderStatus, 16), index=True)
    is_medical: Mapped[bool] = mapped_column(default=False)
    customer_name: Mapped[str | None] = mapped_column(String(100), default=None)
    customer_phone: Mapped[str | None] = mapped_column(String(32), default=None)
    subtotal_cents: Mapped[int]
    # The taxes and total the shopper was shown, computed once when the order was taken and
    # never changed (None on orders taken before taxes were computed), and how: the schedule,
    # each tax and each line's taxes (orders/figures.py).
    tax_cents: Mapped[int | None] = mapped_column(default=None)
    total_cents: Mapped[int | None] = mapped_column(default=None)
    tax_details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # What the order used of each purchase limit of its store's profile when it was taken.
    limit_details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    currency: Mapped[str] = mapped_column(String(3))
    # Sent to POSes that dedupe submissions on a key (Dutchie): the same for every attempt.
    pos_idempotency_key: Mapped[str] = mapped_column(String(64))
    pos_order_id: Mapped[str | None] = mapped_column(String(200), default=None)
    pos_vendor_status: Mapped[str | None] = mapped_column(String(100), default=None)
    # The total the POS computed for it, where its answer to the submission carries one.
    pos_total_cents: Mapped[int | None] = mapped_column(default=None)
    # Why the order is queued, rejected or failed (the last reason given).
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Raised, in its own committed transaction, before each call that may create the POS order:
    # above zero, a POS order may exist without our knowing, so it is looked up first.
    submit_attempts: Mapped[int] = mapped_column(default=0)
    # While it is not at the POS, the order is submitted until then, and fails after it.
    submit_deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    # Held by the one run that is calling the POS for it (taken with `submit_attempts`): no
    # other run may call for the same order until it is released or has run out.
    submit_lease_until: Mapped[datetime | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    status_changed_at: Mapped[datetime]


class OrderItem(IdMixin, Base):
    """One line of an order, with what the product was when it was ordered."""

    __tablename__ = "order_items"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column(index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    # The catalog rows may go (a product removed from the POS); the line keeps its copy.
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="SET NULL"), index=True
    )
    product_external_id: Mapped[str] = mapped_column(String(200))
    variant_external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(500))
    variant_label: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int]
    unit_price_cents: Mapped[int]


class OrderTransition(IdMixin, Base):
    """One status change of an order: when, from what, to what, who made it and why."""

    __tablename__ = "order_transitions"
    __table_args__ = (Index("ix_order_transitions_order_at", "order_id", "at"),)
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column(index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    from_status: Mapped[OrderStatus | None] = mapped_column(StrEnumType(OrderStatus, 16))
    to_status: Mapped[OrderStatus] = mapped_column(StrEnumType(OrderStatus, 16))
    source: Mapped[TransitionSource] = mapped_column(StrEnumType(TransitionSource, 16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime]


class IdempotencyKey(IdMixin, Base):
    """A kiosk's `Idempotency-Key` and the response of the request that first used it (Stripe
    semantics: replayed for the same body, refused for another, 409 while it runs)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("kiosk_id", "key"),)
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column(index=True)
    kiosk_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[IdempotencyStatus] = mapped_column(StrEnumType(IdempotencyStatus, 16))
    # Who holds an in-flight key: only that request may complete or release it.
    lock_token: Mapped[str | None] = mapped_column(String(32), default=None)
    locked_at: Mapped[datetime | None] = mapped_column(default=None)
    response_status: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
