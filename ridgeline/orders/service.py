"""Taking a kiosk's order: validation against our catalog, the order, its first status and its
outbox job in one transaction, behind the request's idempotency key.

Limits per order (docs/orders.md#limits): at most `MAX_LINES` lines, `MAX_QUANTITY_PER_LINE` of
one variant, and `cart.MAX_TOTAL_CENTS` in total; the catalog, price and purchase-limit checks
are the cart check's (orders/cart.py), so an order is refused exactly when its cart has a
problem.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.schemas import envelope
from ridgeline.auth.principal import KioskPrincipal
from ridgeline.clock import Clock
from ridgeline.compliance.taxes import ROUNDING_RULE, LineTaxes
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import (
    NotFound,
    OrderLimitExceeded,
    RidgelineError,
    StorePaused,
    error_body,
)
from ridgeline.jobs import enqueue
from ridgeline.models.order import Order, OrderItem, OrderStatus, TransitionSource
from ridgeline.models.store import Store
from ridgeline.orders import figures, idempotency, repository
from ridgeline.orders.cart import CartEvaluation, evaluate_cart
from ridgeline.orders.idempotency import StoredResponse
from ridgeline.orders.schemas import (
    CartCheckIn,
    CartCheckOut,
    CartLineOut,
    CartProblemOut,
    CartTotalsOut,
    OrderCreate,
    OrderItemOut,
    OrderOut,
    OrderTransitionOut,
)
from ridgeline.orders.status import transition

MAX_LINES = 50
MAX_QUANTITY_PER_LINE = 20

SUBMIT_JOB = "orders.submit"
# Unexpected failures (a bug, the database away) are retried this often with the queue's
# backoff; a POS that is away ends the job with the order `queued` for its store's queue.
SUBMIT_JOB_MAX_ATTEMPTS = 25
# A kiosk waits on it: urgent (below jobs.queue.URGENT_BELOW), so a worker whose other slots
# are busy with routine work (syncs, status polls) still takes it at once.
SUBMIT_PRIORITY = -1


def new_reference() -> str:
    """Ours, on every POS order: `RL-` and 10 base32 characters (50 random bits)."""
    return "RL-" + base64.b32encode(secrets.token_bytes(10)).decode()[:10]


def submit_dedupe_key(order_id: uuid.UUID) -> str:
    return f"{SUBMIT_JOB}:{order_id}"


async def place_order(
    database: Database,
    kiosk: KioskPrincipal,
    raw_key: str | None,
    body: OrderCreate,
    *,
    clock: Clock,
    deadline_s: float,
    takeover_s: float,
) -> StoredResponse:
    """`POST /orders` behind its idempotency key: the stored answer of the key's first request,
    or this request's answer (stored with the order, or alone for a 4xx)."""
    key = idempotency.checked_key(raw_key)
    digest = idempotency.request_hash(body.model_dump(mode="json"))
    begun = await idempotency.begin(
        database,
        kiosk,
        key,
        digest,
        now=clock.now(),
        abandoned_after=timedelta(seconds=takeover_s),
    )
    if isinstance(begun, StoredResponse):
        return begun
    try:
        async with database.transaction() as session:
            order = await create_order(session, kiosk, body, clock=clock, deadline_s=deadline_s)
            payload = envelope(await order_view(session, kiosk.scope, order)).model_dump(
                mode="json"
            )
            await idempotency.complete(session, begun, 201, payload, order_id=order.id)
    except RidgelineError as error:
        if 400 <= error.status_code < 500:
            # Stripe keeps the result of the first execution, refusals included.
            stored = error_body(error.code, error.message, error.details)
            await idempotency.complete_alone(database, begun, error.status_code, stored)
        else:
            await idempotency.release(database, begun)
        raise
    except BaseException:
        await idempotency.release(database, begun)
        raise
    return StoredResponse(201, payload)


async def create_order(
    session: AsyncSession,
    kiosk: KioskPrincipal,
    body: OrderCreate,
    *,
    clock: Clock,
    deadline_s: float,
) -> Order:
    """Validates the order against the store's catalog and writes it with its items, its
    `received` transition and events, and its `orders.submit` job, in the caller's transaction.
    It is submitted until `deadline_s` from now, and fails after."""
    _check_shape(body)
    scope = kiosk.scope
    store = await _kiosk_store(session, kiosk)
    if await repository.store_paused(session, scope, kiosk.store_id):
        raise StorePaused()
    now = clock.now()
    evaluation = await evaluate_cart(session, scope, store, body, now)
    if evaluation.problems:
        raise evaluation.problems[0]
    subtotal = evaluation.subtotal_cents
    taxes = evaluation.taxes
    tax_cents = 0 if taxes is None else taxes.tax_cents
    order_id = uuid.uuid4()
    order = Order(
        id=order_id,
        organization_id=kiosk.organization_id,
        store_id=kiosk.store_id,
        kiosk_id=kiosk.kiosk_id,
        reference=new_reference(),
        status=OrderStatus.RECEIVED,
        is_medical=body.is_medical,
        customer_name=body.customer_name,
        customer_phone=body.customer_phone,
        subtotal_cents=subtotal,
        tax_cents=tax_cents,
        total_cents=subtotal + tax_cents,
        tax_details=figures.tax_details(evaluation),
        limit_details=figures.limit_details(evaluation),
        currency=store.currency,
        pos_idempotency_key=str(order_id),
        submit_attempts=0,
        submit_deadline_at=now + timedelta(seconds=deadline_s),
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    for position, line in enumerate(evaluation.lines):
        item, product, variant = line.item, line.product, line.variant
        session.add(
            OrderItem(
                organization_id=kiosk.organization_id,
                store_id=kiosk.store_id,
                order_id=order_id,
                position=position,
                product_id=product.id,
                variant_id=variant.id,
                product_external_id=product.external_id,
                variant_external_id=variant.external_id,
                name=product.name,
                variant_label=variant.label,
                quantity=item.quantity,
                unit_price_cents=variant.price_cents,
            )
        )
    await session.flush()
    await transition(
        session, order, OrderStatus.RECEIVED, source=TransitionSource.KIOSK, at=now, initial=True
    )
    await enqueue(
        session,
        SUBMIT_JOB,
        {"order_id": str(order_id)},
        clock=clock,
        dedupe_key=submit_dedupe_key(order_id),
        max_attempts=SUBMIT_JOB_MAX_ATTEMPTS,
        priority=SUBMIT_PRIORITY,
    )
    await session.flush()
    return order


async def check_cart(
    session: AsyncSession, kiosk: KioskPrincipal, body: CartCheckIn, *, clock: Clock
) -> CartCheckOut:
    """The cart as `POST /orders` would judge it now, with every problem rather than the
    first, and its taxes and total; nothing is written."""
    _check_shape(body)
    store = await _kiosk_store(session, kiosk)
    evaluation = await evaluate_cart(session, kiosk.scope, store, body, clock.now())
    problems: list[RidgelineError] = list(evaluation.problems)
    if await repository.store_paused(session, kiosk.scope, kiosk.store_id):
        problems.insert(0, StorePaused())
    return _cart_view(store, evaluation, problems)


async def _kiosk_store(session: AsyncSession, kiosk: KioskPrincipal) -> Store:
    store = await repository.store(session, kiosk.scope, kiosk.store_id)
    if store is None:
        raise NotFound("store", kiosk.store_id)
    return store


def _cart_view(
    store: Store, evaluation: CartEvaluation, problems: list[RidgelineError]
) -> CartCheckOut:
    usage = evaluation.usage
    taxes = evaluation.taxes
    by_index = {line.index: line for line in (taxes.lines if taxes is not None else ())}
    tax_cents = 0 if taxes is None else taxes.tax_cents
    return CartCheckOut(
        orderable=not problems,
        profile=None if evaluation.profile is None else evaluation.profile.key,
        customer_type=evaluation.customer.value,
        lines=[
            CartLineOut(
                index=line.index,
                product_id=line.product.id,
                variant_id=line.variant.id,
                name=line.product.name,
                variant_label=line.variant.label,
                quantity=line.item.quantity,
                unit_price_cents=line.variant.price_cents,
                line_total_cents=line.variant.price_cents * line.item.quantity,
                taxes=figures.line_taxes(by_index.get(line.index)),
                tax_cents=_line_tax(by_index.get(line.index)),
                total_cents=line.variant.price_cents * line.item.quantity
                + _line_tax(by_index.get(line.index)),
                quantity_available=max(line.variant.quantity_available, 0),
            )
            for line in evaluation.lines
        ],
        limits=figures.limit_usage(usage.limits if usage is not None else []),
        totals=CartTotalsOut(
            subtotal_cents=evaluation.subtotal_cents,
            tax_cents=tax_cents,
            total_cents=evaluation.subtotal_cents + tax_cents,
            currency=store.currency,
            taxes=figures.tax_amounts(taxes),
            tax_effective_from=figures.effective_from(taxes),
            tax_source=evaluation.tax_source,
            rounding=ROUNDING_RULE,
        ),
        problems=[
            CartProblemOut(code=problem.code, message=problem.message, details=problem.details)
            for problem in problems
        ],
    )


def _line_tax(line: LineTaxes | None) -> int:
    return 0 if line is None else line.tax_cents


async def kiosk_order(
    session: AsyncSession, kiosk: KioskPrincipal, order_id: uuid.UUID
) -> OrderOut:
    """One of the kiosk's own orders; another kiosk's (even of its store) is not found."""
    order = await repository.order(session, kiosk.scope, order_id, kiosk_id=kiosk.kiosk_id)
    if order is None:
        raise NotFound("order", order_id)
    return await order_view(session, kiosk.scope, order)


async def order_view(session: AsyncSession, scope: TenantScope, order: Order) -> OrderOut:
    items = await repository.items(session, scope, order.id)
    transitions = await repository.transitions(session, scope, order.id)
    return OrderOut.of(
        order,
        taxes=figures.order_taxes(order),
        items=[OrderItemOut.model_validate(item) for item in items],
        transitions=[OrderTransitionOut.model_validate(row) for row in transitions],
    )


def _check_shape(body: CartCheckIn) -> None:
    if len(body.items) > MAX_LINES:
        raise OrderLimitExceeded(
            f"An order has at most {MAX_LINES} lines.",
            details={"limit": "lines", "max": MAX_LINES, "actual": len(body.items)},
        )
    for index, item in enumerate(body.items):
        if item.quantity > MAX_QUANTITY_PER_LINE:
            raise OrderLimitExceeded(
                f"A line has at most {MAX_QUANTITY_PER_LINE} of its variant.",
                details={
                    "limit": "quantity",
                    "max": MAX_QUANTITY_PER_LINE,
                    "actual": item.quantity,
                    "index": index,
                },
            )
