"""Tax arithmetic, table-driven: each kind and basis to the cent, the one rounding rule, excise in
the sales-tax base, medical exemptions, categories, schedules by day, and the shipped state
taxes on a sample cart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ridgeline.compliance.profiles import CustomerType
from ridgeline.compliance.tax_profiles import STATE_TAXES
from ridgeline.compliance.taxes import (
    EVERY_CUSTOMER,
    Tax,
    TaxBasis,
    TaxedLine,
    TaxKind,
    TaxSchedule,
    WeightUnit,
    cart_taxes,
    round_cents,
    schedule_on,
)
from ridgeline.pos.canonical import Category

ADULT = CustomerType.ADULT_USE
MEDICAL = CustomerType.MEDICAL
DAY = date(2026, 1, 1)


def sales(key: str, rate: str, **options: Any) -> Tax:
    return Tax(key, key, TaxKind.SALES, TaxBasis.PRICE, Decimal(rate), **options)


def excise(key: str, rate: str, **options: Any) -> Tax:
    return Tax(key, key, TaxKind.EXCISE, TaxBasis.PRICE, Decimal(rate), **options)


def by_weight(key: str, cents: str, unit: WeightUnit, **options: Any) -> Tax:
    return Tax(key, key, TaxKind.EXCISE, TaxBasis.WEIGHT, Decimal(cents), unit, **options)


def line(
    price: int,
    quantity: int = 1,
    category: Category = Category.FLOWER,
    grams: float | None = 3.5,
    index: int = 0,
) -> TaxedLine:
    return TaxedLine(index, category, quantity, price, grams)


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("0", 0),
        ("0.4999", 0),
        ("0.5", 1),  # half up, not to even
        ("1.5", 2),
        ("2.5", 3),
        ("2.4999999", 2),
        ("3001.5", 3002),
        ("3001.49", 3001),
    ],
)
def test_a_tax_rounds_half_up_to_the_cent(amount: str, cents: int) -> None:
    assert round_cents(Decimal(amount)) == cents


@pytest.mark.parametrize(
    ("taxes", "lines", "customer", "expected"),
    [
        # One percent tax: 7.25 % of 1999 = 144.9275 -> 145.
        ([sales("s", "7.25")], [line(1999)], ADULT, [{"s": 145}]),
        # Per line, not per order: 3 lines of 10 cents at 5 % are 0.5 -> 1 each, 3 in all
        # (per order it would be 1.5 -> 2).
        (
            [sales("s", "5")],
            [line(10, index=0), line(10, index=1), line(10, index=2)],
            ADULT,
            [{"s": 1}, {"s": 1}, {"s": 1}],
        ),
        # Quantity multiplies the price before the tax: 3 x 333 = 999 at 10 % = 99.9 -> 100.
        ([sales("s", "10")], [line(333, quantity=3)], ADULT, [{"s": 100}]),
        # Excise outside the sales base: both on the price.
        ([excise("e", "15"), sales("s", "7.25")], [line(10000)], ADULT, [{"e": 1500, "s": 725}]),
        # Excise in the sales base: sales tax on 10000 + 1500.
        (
            [excise("e", "15", in_sales_tax_base=True), sales("s", "7.25")],
            [line(10000)],
            ADULT,
            [{"e": 1500, "s": 834}],  # 11500 x 7.25 % = 833.75
        ),
        # Two excises, one in the base: 10000 + 1000 (the other's 500 is not).
        (
            [
                excise("e1", "10", in_sales_tax_base=True),
                excise("e2", "5"),
                sales("s", "6"),
            ],
            [line(10000)],
            ADULT,
            [{"e1": 1000, "e2": 500, "s": 660}],
        ),
        # The order of the schedule does not matter: excise is computed first.
        (
            [sales("s", "6"), excise("e", "10", in_sales_tax_base=True)],
            [line(10000)],
            ADULT,
            [{"s": 660, "e": 1000}],
        ),
        # Per gram: 3.5 g x 2 units x 35.5 cents = 248.5 -> 249.
        ([by_weight("w", "35.5", WeightUnit.GRAM)], [line(3000, quantity=2)], ADULT, [{"w": 249}]),
        # Per ounce: 28 g at 923 cents an ounce = 911.6268... -> 912.
        ([by_weight("w", "923", WeightUnit.OUNCE)], [line(20000, grams=28.0)], ADULT, [{"w": 912}]),
        # Per weight in the sales base: 1000 + 249 at 10 % = 124.9 -> 125.
        (
            [
                by_weight("w", "35.5", WeightUnit.GRAM, in_sales_tax_base=True),
                sales("s", "10"),
            ],
            [line(500, quantity=2)],
            ADULT,
            [{"w": 249, "s": 125}],
        ),
        # Medical patients exempt: the tax lists adult use only.
        (
            [excise("e", "10", customers=frozenset({ADULT})), sales("s", "6")],
            [line(10000)],
            MEDICAL,
            [{"s": 600}],
        ),
        # Only its categories: an accessory pays the sales tax, not the excise.
        (
            [excise("e", "10", categories=frozenset({Category.FLOWER})), sales("s", "6")],
            [line(1000, category=Category.ACCESSORY, grams=None)],
            ADULT,
            [{"s": 60}],
        ),
        # A zero rate is a tax at nothing, still listed.
        ([sales("s", "0")], [line(1000)], ADULT, [{"s": 0}]),
        # A rate with four decimals: 9.1375 % of 2000 = 182.75 -> 183.
        ([sales("s", "9.1375")], [line(2000)], ADULT, [{"s": 183}]),
    ],
)
def test_line_taxes_to_the_cent(
    taxes: list[Tax],
    lines: list[TaxedLine],
    customer: CustomerType,
    expected: list[dict[str, int]],
) -> None:
    result = cart_taxes(TaxSchedule(DAY, tuple(taxes)), customer, lines)
    assert [{t.key: t.amount_cents for t in taxed.taxes} for taxed in result.lines] == expected
    assert not result.missing
    # The totals are the sums of the rounded line figures, so the lines add up to them.
    assert result.tax_cents == sum(sum(row.values()) for row in expected)
    assert result.total_cents == sum(item.subtotal_cents for item in lines) + result.tax_cents
    assert sum(amount for _, amount in result.by_tax()) == result.tax_cents


def test_a_weight_tax_on_a_line_without_weight_is_missing_not_zero() -> None:
    schedule = TaxSchedule(DAY, (by_weight("w", "100", WeightUnit.GRAM), sales("s", "10")))
    result = cart_taxes(schedule, ADULT, [line(1000, grams=None, index=4)])
    assert [(m.index, m.key) for m in result.missing] == [(4, "w")]
    # The line keeps its other taxes.
    assert [(t.key, t.amount_cents) for t in result.lines[0].taxes] == [("s", 100)]


def test_no_schedule_taxes_nothing() -> None:
    result = cart_taxes(None, ADULT, [line(1234)])
    assert (result.subtotal_cents, result.tax_cents, result.total_cents) == (1234, 0, 1234)
    assert result.by_tax() == []


def test_the_schedule_in_effect_is_the_latest_begun() -> None:
    old = TaxSchedule(date(2025, 1, 1), ())
    new = TaxSchedule(date(2026, 7, 1), ())
    assert schedule_on([new, old], date(2024, 12, 31)) is None
    assert schedule_on([new, old], date(2025, 1, 1)) is old
    assert schedule_on([new, old], date(2026, 6, 30)) is old
    assert schedule_on([new, old], date(2026, 7, 1)) is new


# A sample cart: 1 eighth of flower at $40 and 1 accessory at $10, for each state and customer.
@pytest.mark.parametrize(
    ("profile", "customer", "flower", "accessory"),
    [
        # 15 % excise (in the sales base), 7.25 % sales: 4000 -> 600 + 4600 x 7.25 % = 333.5.
        ("california", ADULT, {"ca_cannabis_excise": 600, "ca_sales": 334}, {"ca_sales": 73}),
        # Patients: the excise, no sales tax on cannabis; accessories keep it.
        (
            "california",
            MEDICAL,
            {"ca_cannabis_excise": 600},
            {"ca_sales_medical_accessories": 73},
        ),
        # 15 % retail marijuana sales tax, exempt from the 2.9 % state sales tax.
        ("colorado", ADULT, {"co_retail_marijuana_sales": 600}, {"co_sales_accessories": 29}),
        ("colorado", MEDICAL, {"co_sales_medical": 116}, {"co_sales_medical": 29}),
        # 10 % excise in the base of the 6 % sales tax: 4400 x 6 % = 264.
        ("michigan", ADULT, {"mi_marihuana_excise": 400, "mi_sales": 264}, {"mi_sales": 60}),
        ("michigan", MEDICAL, {"mi_sales": 240}, {"mi_sales": 60}),
        # 37 % excise outside the base of the 6.5 % sales tax.
        ("washington", ADULT, {"wa_cannabis_excise": 1480, "wa_sales": 260}, {"wa_sales": 65}),
        ("washington", MEDICAL, {}, {"wa_sales_medical_accessories": 65}),
    ],
)
def test_the_shipped_state_taxes_on_a_sample_cart(
    profile: str, customer: CustomerType, flower: dict[str, int], accessory: dict[str, int]
) -> None:
    lines = [line(4000), line(1000, category=Category.ACCESSORY, grams=None, index=1)]
    result = cart_taxes(STATE_TAXES[profile], customer, lines)
    assert [{t.key: t.amount_cents for t in taxed.taxes} for taxed in result.lines] == [
        flower,
        accessory,
    ]


def test_every_shipped_tax_is_a_price_tax_with_a_unique_key() -> None:
    for schedule in STATE_TAXES.values():
        keys = [tax.key for tax in schedule.taxes]
        assert len(set(keys)) == len(keys)
        for tax in schedule.taxes:
            assert tax.basis is TaxBasis.PRICE
            assert Decimal(0) <= tax.rate <= Decimal(100)
            assert tax.customers <= EVERY_CUSTOMER
            assert not (tax.kind is TaxKind.SALES and tax.in_sales_tax_base)
