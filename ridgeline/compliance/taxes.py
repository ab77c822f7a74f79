"""Taxes on a cart: a store's tax schedules as data, and the pure arithmetic of each line's
taxes and the total the shopper pays (docs/compliance.md#taxes). No database, no floats: money
is integer cents, rates are `Decimal`s read from decimal strings.

The rounding rule is stated once, in `round_cents`: each tax of each line is rounded half up to
a whole cent; a cart's or an order's figures are sums of those rounded line figures, so the lines
always add up to the totals the shopper is shown."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from ridgeline.compliance.profiles import CustomerType
from ridgeline.pos.canonical import Category

# The international avoirdupois ounce, exactly: a per-ounce tax is money, not a limit, so it is
# not the hundredth-rounded ounce the purchase limits use.
TAX_OUNCE_GRAMS = Decimal("28.349523125")
EVERY_CUSTOMER = frozenset(CustomerType)
ROUNDING_RULE = "line_half_up"


class TaxKind(StrEnum):
    # A tax on the retail sale (state, local): computed on the price, plus the excise taxes that
    # are part of its base.
    SALES = "sales"
    # A cannabis excise tax collected at retail: on the price, or by weight; computed first.
    EXCISE = "excise"


class TaxBasis(StrEnum):
    PRICE = "price"  # `rate` is a percent of the line's price
    WEIGHT = "weight"  # `rate` is cents per `unit` of the line's weight


class WeightUnit(StrEnum):
    GRAM = "g"
    OUNCE = "oz"


@dataclass(frozen=True)
class Tax:
    """One tax of a schedule. `categories` None: every product category. `customers`: who pays
    it (a tax medical patients are exempt from lists adult_use only)."""

    key: str
    name: str
    kind: TaxKind
    basis: TaxBasis
    rate: Decimal
    unit: WeightUnit | None = None
    categories: frozenset[Category] | None = None
    customers: frozenset[CustomerType] = EVERY_CUSTOMER
    # Excise only: the excise is part of the price the sales taxes are computed on.
    in_sales_tax_base: bool = False

    def applies(self, category: Category, customer: CustomerType) -> bool:
        if customer not in self.customers:
            return False
        return self.categories is None or category in self.categories


@dataclass(frozen=True)
class TaxSchedule:
    """The taxes a store charges from `effective_from` (a day in the store's time zone) until
    the next schedule's day."""

    effective_from: date
    taxes: tuple[Tax, ...]


def schedule_on(schedules: Iterable[TaxSchedule], day: date) -> TaxSchedule | None:
    """The schedule in effect on `day`: the latest that has begun; None before the first."""
    begun = [schedule for schedule in schedules if schedule.effective_from <= day]
    return max(begun, key=lambda schedule: schedule.effective_from, default=None)


def round_cents(amount: Decimal) -> int:
    """The one rounding rule of taxes: half up to a whole cent (0.5 cent rounds to 1)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def decimal_of(value: float) -> Decimal:
    """A catalog float (a weight) by its shortest decimal form: 3.5, not 3.4999..."""
    return Decimal(str(value))


@dataclass(frozen=True)
class TaxedLine:
    """One cart line as the taxes see it."""

    index: int
    category: Category
    quantity: int
    unit_price_cents: int
    weight_grams: float | None  # per unit sold

    @property
    def subtotal_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class LineTax:
    key: str
    amount_cents: int


@dataclass(frozen=True)
class LineTaxes:
    index: int
    subtotal_cents: int
    taxes: tuple[LineTax, ...]

    @property
    def tax_cents(self) -> int:
        return sum(tax.amount_cents for tax in self.taxes)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents


@dataclass(frozen=True)
class TaxWeightMissing:
    """A line a weight-based tax applies to whose variant has no weight: its tax is unknown."""

    index: int
    key: str


@dataclass(frozen=True)
class CartTaxes:
    schedule: TaxSchedule | None
    lines: tuple[LineTaxes, ...]
    missing: tuple[TaxWeightMissing, ...]

    @property
    def subtotal_cents(self) -> int:
        return sum(line.subtotal_cents for line in self.lines)

    @property
    def tax_cents(self) -> int:
        return sum(line.tax_cents for line in self.lines)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents

    def by_tax(self) -> list[tuple[Tax, int]]:
        """Each tax of the schedule that falls on a line, with what the cart pays of it, in the
        schedule's order."""
        if self.schedule is None:
            return []
        paid: dict[str, int] = {}
        for line in self.lines:
            for tax in line.taxes:
                paid[tax.key] = paid.get(tax.key, 0) + tax.amount_cents
        return [(tax, paid[tax.key]) for tax in self.schedule.taxes if tax.key in paid]


def _excise(tax: Tax, line: TaxedLine) -> Decimal | None:
    if tax.basis is TaxBasis.PRICE:
        return line.subtotal_cents * tax.rate / 100
    if line.weight_grams is None:
        return None
    grams = decimal_of(line.weight_grams) * line.quantity
    per_unit = grams if tax.unit is WeightUnit.GRAM else grams / TAX_OUNCE_GRAMS
    return per_unit * tax.rate


def line_taxes(
    schedule: TaxSchedule, customer: CustomerType, line: TaxedLine
) -> tuple[LineTaxes, list[TaxWeightMissing]]:
    """One line's taxes: excise taxes first (each on the price or the weight), then sales taxes
    on the price plus the excise taxes that are part of their base. Each is rounded on its own."""
    applying = [tax for tax in schedule.taxes if tax.applies(line.category, customer)]
    amounts: dict[str, int] = {}
    missing: list[TaxWeightMissing] = []
    sales_base = line.subtotal_cents
    for tax in applying:
        if tax.kind is not TaxKind.EXCISE:
            continue
        amount = _excise(tax, line)
        if amount is None:
            missing.append(TaxWeightMissing(line.index, tax.key))
            continue
        amounts[tax.key] = round_cents(amount)
        if tax.in_sales_tax_base:
            sales_base += amounts[tax.key]
    for tax in applying:
        if tax.kind is TaxKind.SALES:
            # A weight basis is refused for sales taxes when the settings are saved.
            amounts[tax.key] = round_cents(sales_base * tax.rate / 100)
    taxes = tuple(LineTax(tax.key, amounts[tax.key]) for tax in applying if tax.key in amounts)
    return LineTaxes(line.index, line.subtotal_cents, taxes), missing


def cart_taxes(
    schedule: TaxSchedule | None, customer: CustomerType, lines: Sequence[TaxedLine]
) -> CartTaxes:
    """Every line's taxes under `schedule` (None: no taxes, the total is the subtotal)."""
    if schedule is None:
        untaxed = tuple(LineTaxes(line.index, line.subtotal_cents, ()) for line in lines)
        return CartTaxes(None, untaxed, ())
    taxed: list[LineTaxes] = []
    missing: list[TaxWeightMissing] = []
    for line in lines:
        figures, unknown = line_taxes(schedule, customer, line)
        taxed.append(figures)
        missing += unknown
    return CartTaxes(schedule, tuple(taxed), tuple(missing))
