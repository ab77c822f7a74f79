"""The tax and limit figures of a cart, as the cart check answers them and as an order keeps
them: computed once when the order is taken (`tax_details`, `limit_details`, never changed
after) and read back for the kiosk's and the operator's views."""

from __future__ import annotations

from datetime import date
from typing import Any

from ridgeline.compliance.limits import LimitUsage
from ridgeline.compliance.taxes import ROUNDING_RULE, CartTaxes, LineTaxes
from ridgeline.models.order import Order
from ridgeline.orders.cart import CartEvaluation
from ridgeline.orders.schemas import (
    LimitUsageOut,
    LineTaxOut,
    OrderLimitsOut,
    OrderLineTaxesOut,
    TaxAmountOut,
)


def tax_amounts(taxes: CartTaxes | None) -> list[TaxAmountOut]:
    if taxes is None:
        return []
    return [
        TaxAmountOut(
            key=tax.key,
            name=tax.name,
            kind=tax.kind.value,
            basis=tax.basis.value,
            rate=str(tax.rate),
            unit=None if tax.unit is None else tax.unit.value,
            amount_cents=amount,
        )
        for tax, amount in taxes.by_tax()
    ]


def line_taxes(line: LineTaxes | None) -> list[LineTaxOut]:
    if line is None:
        return []
    return [LineTaxOut(key=tax.key, amount_cents=tax.amount_cents) for tax in line.taxes]


def limit_usage(limits: list[LimitUsage]) -> list[LimitUsageOut]:
    return [
        LimitUsageOut(
            category=limit.category,
            unit=limit.unit.value,
            period=limit.period.value,
            used=float(limit.used),
            limit=float(limit.limit),
            remaining=float(limit.remaining),
            over_by=float(limit.over_by),
        )
        for limit in limits
    ]


def effective_from(taxes: CartTaxes | None) -> date | None:
    if taxes is None or taxes.schedule is None:
        return None
    return taxes.schedule.effective_from


def tax_details(evaluation: CartEvaluation) -> dict[str, Any]:
    """What an order keeps of its taxes; lines by the position they are stored at."""
    taxes = evaluation.taxes
    lines = [] if taxes is None else list(taxes.lines)
    day = effective_from(taxes)
    return {
        "effective_from": None if day is None else day.isoformat(),
        "source": evaluation.tax_source,
        "rounding": ROUNDING_RULE,
        "taxes": [amount.model_dump(mode="json") for amount in tax_amounts(taxes)],
        "lines": [
            OrderLineTaxesOut(
                position=position, taxes=line_taxes(line), tax_cents=line.tax_cents
            ).model_dump(mode="json")
            for position, line in enumerate(lines)
        ],
    }


def limit_details(evaluation: CartEvaluation) -> dict[str, Any] | None:
    profile, usage = evaluation.profile, evaluation.usage
    if profile is None or usage is None:
        return None
    return OrderLimitsOut(
        profile=profile.key,
        customer_type=evaluation.customer.value,
        categories=limit_usage(usage.limits),
    ).model_dump(mode="json")


def order_taxes(order: Order) -> list[TaxAmountOut]:
    details = order.tax_details or {}
    return [TaxAmountOut.model_validate(row) for row in details.get("taxes", [])]


def operator_figures(order: Order) -> dict[str, Any]:
    """The operator detail's tax, limit and POS total fields of `order`."""
    details = order.tax_details or {}
    day = details.get("effective_from")
    difference = None
    if order.pos_total_cents is not None and order.total_cents is not None:
        difference = order.pos_total_cents - order.total_cents
    limits = order.limit_details
    return {
        "tax_lines": [OrderLineTaxesOut.model_validate(row) for row in details.get("lines", [])],
        "tax_effective_from": None if day is None else date.fromisoformat(day),
        "tax_source": details.get("source"),
        "limits": None if limits is None else OrderLimitsOut.model_validate(limits),
        "pos_total_cents": order.pos_total_cents,
        "pos_total_difference_cents": difference,
    }
