"""The limit arithmetic of every shipped profile, table-driven: carts just under, at and over
each limit, for adult use and medical, mixed categories, Colorado's flower equivalents, and
products without weight or potency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ridgeline.compliance.limits import CartUsage, CountedLine, cart_usage, thc_mg
from ridgeline.compliance.profiles import (
    OUNCE_GRAMS,
    PROFILES,
    CustomerType,
    Measure,
    MissingData,
)
from ridgeline.compliance.schemas import ComplianceOverrides
from ridgeline.compliance.service import apply_overrides

ADULT, MEDICAL = CustomerType.ADULT_USE, CustomerType.MEDICAL
# Just under a limit: a thousandth of the unit, the finest step the arithmetic keeps.
STEP = 0.001


def line(
    category: str,
    grams: float | None = None,
    quantity: int = 1,
    thc: dict[str, Any] | None = None,
    index: int = 0,
) -> CountedLine:
    return CountedLine(index, category, quantity, grams, thc)


def usage_of(result: CartUsage) -> dict[str, Decimal]:
    return {limit.category: limit.used for limit in result.limits}


def over_of(result: CartUsage) -> dict[str, Decimal]:
    return {limit.category: limit.over_by for limit in result.exceeded}


# (profile, customer, limit category, a product category counted gram for gram toward it)
WEIGHT_LIMITS = [
    ("california", ADULT, "non_concentrated", "flower"),
    ("california", ADULT, "concentrate", "concentrate"),
    ("california", MEDICAL, "non_concentrated", "pre_roll"),
    ("colorado", ADULT, "flower_equivalent", "flower"),
    ("colorado", MEDICAL, "medical_flower", "flower"),
    ("colorado", MEDICAL, "medical_concentrate", "vape"),
    ("michigan", ADULT, "marihuana", "flower"),
    ("michigan", ADULT, "concentrate", "concentrate"),
    ("michigan", MEDICAL, "marihuana", "concentrate"),
    ("washington", ADULT, "useable", "flower"),
    ("washington", ADULT, "concentrate", "vape"),
    ("washington", ADULT, "infused_solid", "edible"),
    ("washington", ADULT, "infused_liquid", "beverage"),
    ("washington", MEDICAL, "useable", "pre_roll"),
    ("washington", MEDICAL, "concentrate", "concentrate"),
    ("washington", MEDICAL, "infused_solid", "capsule"),
    ("washington", MEDICAL, "infused_liquid", "tincture"),
]


@pytest.mark.parametrize(("key", "customer", "limit", "category"), WEIGHT_LIMITS)
@pytest.mark.parametrize(("offset", "over"), [(-STEP, False), (0.0, False), (STEP, True)])
def test_each_weight_limit_just_under_at_and_over(
    key: str, customer: CustomerType, limit: str, category: str, offset: float, over: bool
) -> None:
    profile = PROFILES[key]
    figure = profile.limits[limit].value(customer)
    assert figure is not None
    # Two lines of the same category add up: half the figure each, then the offset.
    lines = [
        line(category, figure / 2, index=0),
        line(category, figure / 2 + offset, index=1),
    ]
    result = cart_usage(profile, customer, lines)
    assert usage_of(result)[limit] == Decimal(str(round(figure + offset, 3)))
    assert (limit in over_of(result)) is over
    if over:
        assert over_of(result)[limit] == Decimal("0.001")


@pytest.mark.parametrize(
    ("key", "customer", "expected"),
    [
        ("california", ADULT, {"non_concentrated": 28.5, "concentrate": 8.0}),
        ("california", MEDICAL, {"non_concentrated": 226.8}),
        ("colorado", ADULT, {"flower_equivalent": 28.35}),
        ("colorado", MEDICAL, {"medical_flower": 56.7, "medical_concentrate": 8.0}),
        ("michigan", ADULT, {"marihuana": 70.875, "concentrate": 15.0}),
        ("michigan", MEDICAL, {"marihuana": 70.875}),
        (
            "washington",
            ADULT,
            {"useable": 28.35, "infused_solid": 453.6, "infused_liquid": 2041.2, "concentrate": 7},
        ),
        (
            "washington",
            MEDICAL,
            {
                "useable": 85.05,
                "infused_solid": 1360.8,
                "infused_liquid": 6123.6,
                "concentrate": 21,
            },
        ),
    ],
)
def test_only_the_customer_types_limits_apply(
    key: str, customer: CustomerType, expected: dict[str, float]
) -> None:
    result = cart_usage(PROFILES[key], customer, [])
    assert {u.category: float(u.limit) for u in result.limits} == expected
    assert all(u.used == 0 and u.remaining == u.limit for u in result.limits)


def test_colorado_adds_flower_concentrate_and_products_as_flower_equivalents() -> None:
    colorado = PROFILES["colorado"]
    # Half an ounce of flower, 2 g of concentrate (1/4 oz), 200 mg of THC in gummies (1/4 oz).
    cart = [
        line("flower", OUNCE_GRAMS / 2),
        line("concentrate", 1.0, quantity=2),
        line("edible", thc={"value": 100, "unit": "mg"}, quantity=2),
    ]
    result = cart_usage(colorado, ADULT, cart)
    assert usage_of(result) == {"flower_equivalent": Decimal("28.350")}
    assert result.exceeded == []
    # One more milligram-worth of anything tips it over.
    tipped = cart_usage(colorado, ADULT, [*cart, line("edible", thc={"value": 1, "unit": "mg"})])
    assert over_of(tipped) == {"flower_equivalent": Decimal("0.035")}
    # 8 g of concentrate alone is the ounce; 800 mg of THC alone too.
    assert usage_of(cart_usage(colorado, ADULT, [line("vape", 8.0)])) == {
        "flower_equivalent": Decimal("28.350")
    }
    assert usage_of(
        cart_usage(colorado, ADULT, [line("beverage", thc={"value": 800, "unit": "mg"})])
    ) == {"flower_equivalent": Decimal("28.350")}


def test_colorado_medical_limits_are_per_category_without_equivalents() -> None:
    result = cart_usage(
        PROFILES["colorado"],
        MEDICAL,
        [
            line("flower", 56.7),
            line("concentrate", 8.0),
            line("edible", thc={"value": 5000, "unit": "mg"}),
        ],
    )
    assert usage_of(result) == {
        "medical_flower": Decimal("56.700"),
        "medical_concentrate": Decimal("8.000"),
    }
    assert result.exceeded == []


def test_michigan_concentrate_counts_toward_the_total_and_its_own_limit() -> None:
    result = cart_usage(
        PROFILES["michigan"], ADULT, [line("flower", 56.0), line("concentrate", 15.0)]
    )
    assert usage_of(result) == {"marihuana": Decimal("71.000"), "concentrate": Decimal("15.000")}
    assert over_of(result) == {"marihuana": Decimal("0.125")}


def test_mixed_cart_names_every_limit_over_and_ignores_unlimited_categories() -> None:
    result = cart_usage(
        PROFILES["washington"],
        ADULT,
        [
            line("flower", 3.5, quantity=9),  # 31.5 g of useable
            line("vape", 1.0, quantity=8),  # 8 g of concentrate
            line("edible", 100.0, quantity=4),  # 400 g solid: under
            line("accessory", 500.0),
            line("topical", 200.0),
        ],
    )
    assert over_of(result) == {"useable": Decimal("3.150"), "concentrate": Decimal("1.000")}
    assert usage_of(result)["infused_solid"] == Decimal("400.000")


def test_a_percentage_potency_is_converted_with_the_weight() -> None:
    assert thc_mg(10.0, {"value": 5, "unit": "percent"}) == Decimal("500.0")
    assert thc_mg(None, {"value": 5, "unit": "percent"}) is None
    assert thc_mg(None, {"value": 80, "unit": "mg"}) == Decimal("80")
    assert thc_mg(1.0, None) is None


@pytest.mark.parametrize("key", ["california", "michigan", "washington"])
def test_a_line_without_weight_is_refused_where_the_profile_refuses(key: str) -> None:
    result = cart_usage(PROFILES[key], ADULT, [line("flower", None, index=3)])
    assert PROFILES[key].missing_data.action is MissingData.REFUSE
    [missing] = result.refused
    assert (missing.index, missing.measure) == (3, Measure.WEIGHT)
    assert all(u.used == 0 for u in result.limits)


def test_colorado_counts_missing_weight_and_potency_at_its_defaults() -> None:
    colorado = PROFILES["colorado"]
    result = cart_usage(
        colorado, ADULT, [line("flower", None, quantity=2), line("edible", thc=None, index=1)]
    )
    assert result.refused == []
    assert [(m.index, m.measure, m.counted_at) for m in result.missing] == [
        (0, Measure.WEIGHT, Decimal("3.5")),
        (1, Measure.THC, Decimal("100.0")),
    ]
    # 7 g of flower and 100 mg of THC (3.54375 g of flower).
    assert usage_of(result) == {"flower_equivalent": Decimal("10.544")}


def test_overrides_change_figures_and_the_missing_data_rule() -> None:
    overrides = ComplianceOverrides.model_validate(
        {
            "limits": {"non_concentrated": {"unit": "g", "adult_use": 14}},
            "missing_data": {"action": "default", "default_weight_grams": 1},
        }
    )
    profile = apply_overrides(PROFILES["california"], overrides)
    assert profile.limits["non_concentrated"].adult_use == 14
    assert profile.limits["non_concentrated"].medical == 8 * OUNCE_GRAMS  # kept
    result = cart_usage(profile, ADULT, [line("flower", 14.0), line("pre_roll", None)])
    assert over_of(result) == {"non_concentrated": Decimal("1.000")}
    assert PROFILES["california"].limits["non_concentrated"].adult_use == 28.5  # shipped intact
