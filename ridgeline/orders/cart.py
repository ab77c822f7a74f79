"""A cart against the store's catalog and purchase limits: the one check that both
`POST /cart/check` (every problem, nothing created) and `POST /orders` (refused at the first
problem, before anything is written) run.

Problems come in a fixed order, which is the order `POST /orders` answers them in: per line
(`PRODUCT_UNAVAILABLE`, `MEDICAL_ORDER_REQUIRED`, `OUT_OF_STOCK`) in line order, then
`PRICE_CHANGED`, `ORDER_LIMIT_EXCEEDED` (the total), `COMPLIANCE_DATA_MISSING` (for the
limits, then for a weight-based tax), and `PURCHASE_LIMIT_EXCEEDED`.

The cart's taxes are computed here too, by the store's tax schedule in effect on the day of
`now` (compliance/taxes.py): the figures the check shows are the ones an order keeps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.compliance.limits import CartUsage, CountedLine, cart_usage
from ridgeline.compliance.profiles import CustomerType, Profile
from ridgeline.compliance.service import store_profile, store_tax_schedule
from ridgeline.compliance.taxes import CartTaxes, TaxedLine, cart_taxes
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import (
    ComplianceDataMissing,
    MedicalOrderRequired,
    OrderLimitExceeded,
    OutOfStock,
    PriceChanged,
    ProductUnavailable,
    PurchaseLimitExceeded,
    RidgelineError,
)
from ridgeline.models.catalog import Product, ProductVariant
from ridgeline.models.store import Store
from ridgeline.orders import repository
from ridgeline.orders.schemas import CartCheckIn, OrderItemIn
from ridgeline.pos.canonical import Category

MAX_TOTAL_CENTS = 500_000


@dataclass(frozen=True)
class PricedLine:
    index: int
    item: OrderItemIn
    product: Product
    variant: ProductVariant


@dataclass
class CartEvaluation:
    profile: Profile | None
    customer: CustomerType
    lines: list[PricedLine] = field(default_factory=list)
    problems: list[RidgelineError] = field(default_factory=list)
    usage: CartUsage | None = None
    taxes: CartTaxes | None = None
    tax_source: str = "none"

    @property
    def subtotal_cents(self) -> int:
        return sum(line.variant.price_cents * line.item.quantity for line in self.lines)


async def evaluate_cart(
    session: AsyncSession, scope: TenantScope, store: Store, body: CartCheckIn, now: datetime
) -> CartEvaluation:
    products, variants, hidden = await repository.catalog_rows(
        session,
        scope,
        store.id,
        {item.product_id for item in body.items},
        {item.variant_id for item in body.items},
    )
    evaluation = CartEvaluation(
        profile=store_profile(store),
        customer=CustomerType.MEDICAL if body.is_medical else CustomerType.ADULT_USE,
    )
    for index, item in enumerate(body.items):
        product = products.get(item.product_id)
        variant = variants.get(item.variant_id)
        problem = _line_problem(index, item, product, variant, hidden, body.is_medical)
        if problem is not None:
            evaluation.problems.append(problem)
        if product is not None and variant is not None and variant.product_id == product.id:
            evaluation.lines.append(PricedLine(index, item, product, variant))
    _check_prices(evaluation)
    _check_total(evaluation)
    _check_limits(evaluation)
    _compute_taxes(evaluation, store, now)
    _check_limits_exceeded(evaluation)
    return evaluation


def _where(index: int, item: OrderItemIn) -> dict[str, object]:
    return {"index": index, "product_id": str(item.product_id), "variant_id": str(item.variant_id)}


def _line_problem(
    index: int,
    item: OrderItemIn,
    product: Product | None,
    variant: ProductVariant | None,
    hidden: set[uuid.UUID],
    is_medical: bool,
) -> RidgelineError | None:
    where = _where(index, item)
    reason = None
    if product is None:
        reason = "not_found"
    elif variant is None or variant.product_id != product.id:
        reason = "variant_not_found"
    elif not product.is_active:
        reason = "inactive"
    elif product.id in hidden:
        reason = "hidden"
    if reason is not None or product is None or variant is None:
        return ProductUnavailable(details={**where, "reason": reason})
    if product.is_medical_only and not is_medical:
        return MedicalOrderRequired(details=where)
    if variant.quantity_available < item.quantity:
        return OutOfStock(
            details={
                **where,
                "requested": item.quantity,
                "available": max(variant.quantity_available, 0),
            }
        )
    return None


def _check_prices(evaluation: CartEvaluation) -> None:
    changed = [
        line.item.expected_unit_price_cents is not None
        and line.item.expected_unit_price_cents != line.variant.price_cents
        for line in evaluation.lines
    ]
    if not any(changed):
        return
    evaluation.problems.append(
        PriceChanged(
            details={
                "items": [
                    {
                        **_where(line.index, line.item),
                        "expected_unit_price_cents": line.item.expected_unit_price_cents,
                        "unit_price_cents": line.variant.price_cents,
                        "changed": was_changed,
                    }
                    for line, was_changed in zip(evaluation.lines, changed, strict=True)
                ]
            }
        )
    )


def _check_total(evaluation: CartEvaluation) -> None:
    subtotal = evaluation.subtotal_cents
    if subtotal > MAX_TOTAL_CENTS:
        evaluation.problems.append(
            OrderLimitExceeded(
                f"The order total is over {MAX_TOTAL_CENTS} cents.",
                details={"limit": "total_cents", "max": MAX_TOTAL_CENTS, "actual": subtotal},
            )
        )


def _check_limits(evaluation: CartEvaluation) -> None:
    profile = evaluation.profile
    if profile is None:
        return
    usage = cart_usage(
        profile,
        evaluation.customer,
        [
            CountedLine(
                index=line.index,
                category=line.product.category,
                quantity=line.item.quantity,
                weight_grams=line.variant.weight_grams,
                thc=line.product.thc,
            )
            for line in evaluation.lines
        ],
    )
    evaluation.usage = usage
    by_index = {line.index: line for line in evaluation.lines}
    for missing in usage.refused:
        line = by_index[missing.index]
        evaluation.problems.append(
            ComplianceDataMissing(
                details={**_where(line.index, line.item), "missing": missing.measure.value}
            )
        )


def _compute_taxes(evaluation: CartEvaluation, store: Store, now: datetime) -> None:
    schedule, evaluation.tax_source = store_tax_schedule(store, now)
    taxes = cart_taxes(
        schedule,
        evaluation.customer,
        [
            TaxedLine(
                index=line.index,
                category=_category(line.product.category),
                quantity=line.item.quantity,
                unit_price_cents=line.variant.price_cents,
                weight_grams=line.variant.weight_grams,
            )
            for line in evaluation.lines
        ],
    )
    evaluation.taxes = taxes
    by_index = {line.index: line for line in evaluation.lines}
    for missing in taxes.missing:
        line = by_index[missing.index]
        evaluation.problems.append(
            ComplianceDataMissing(
                "A product has no weight in the catalog, which a tax of the store needs; it "
                "cannot be ordered until the POS provides it.",
                details={**_where(line.index, line.item), "missing": "weight", "tax": missing.key},
            )
        )


def _category(value: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        return Category.OTHER


def _check_limits_exceeded(evaluation: CartEvaluation) -> None:
    profile, usage = evaluation.profile, evaluation.usage
    if profile is None or usage is None:
        return
    if usage.exceeded:
        evaluation.problems.append(
            PurchaseLimitExceeded(
                details={
                    "profile": profile.key,
                    "customer_type": evaluation.customer.value,
                    "categories": [
                        {
                            "category": over.category,
                            "used": float(over.used),
                            "limit": float(over.limit),
                            "unit": over.unit.value,
                            "period": over.period.value,
                            "over_by": float(over.over_by),
                        }
                        for over in usage.exceeded
                    ],
                }
            )
        )
