"""The shipped jurisdiction profiles, as data: each value's source is cited in
docs/compliance.md. A profile names its limit categories, the unit and period of each, the
adult-use and medical figures, and how our canonical product categories count toward them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ridgeline.pos.canonical import Category

OUNCE_GRAMS = 28.35


class CustomerType(StrEnum):
    ADULT_USE = "adult_use"
    MEDICAL = "medical"


class Period(StrEnum):
    TRANSACTION = "transaction"
    # Kiosk orders carry no verified customer identity, so a per-day limit is applied to each
    # order on its own (docs/compliance.md#periods).
    DAY = "day"


class Unit(StrEnum):
    GRAMS = "g"
    FLOWER_EQUIVALENT_GRAMS = "g_flower_equivalent"


class Measure(StrEnum):
    """What of a product line is counted: its variant's weight, or the THC it contains."""

    WEIGHT = "weight"
    THC = "thc"


class MissingData(StrEnum):
    """What a line whose product lacks the measure a limit needs does to the cart."""

    REFUSE = "refuse"
    DEFAULT = "default"


@dataclass(frozen=True)
class Limit:
    """One limit category: `None` for a customer type means no limit of this kind for it."""

    unit: Unit
    period: Period
    adult_use: float | None
    medical: float | None

    def value(self, customer: CustomerType) -> float | None:
        return self.adult_use if customer is CustomerType.ADULT_USE else self.medical


@dataclass(frozen=True)
class Contribution:
    """A product category counts `factor` limit units per gram (WEIGHT) or per mg of THC (THC)."""

    limit: str
    measure: Measure
    factor: float = 1.0


@dataclass(frozen=True)
class MissingDataRule:
    action: MissingData
    default_weight_grams: float
    default_thc_mg: float


@dataclass(frozen=True)
class Profile:
    key: str
    name: str
    limits: Mapping[str, Limit]
    counts: Mapping[Category, tuple[Contribution, ...]]
    missing_data: MissingDataRule

    def measures(self, category: Category) -> set[Measure]:
        return {contribution.measure for contribution in self.counts.get(category, ())}


_REFUSE = MissingDataRule(MissingData.REFUSE, default_weight_grams=1.0, default_thc_mg=100.0)

CALIFORNIA = Profile(
    key="california",
    name="California",
    limits={
        "non_concentrated": Limit(Unit.GRAMS, Period.DAY, 28.5, 8 * OUNCE_GRAMS),
        "concentrate": Limit(Unit.GRAMS, Period.DAY, 8.0, None),
    },
    counts={
        Category.FLOWER: (Contribution("non_concentrated", Measure.WEIGHT),),
        Category.PRE_ROLL: (Contribution("non_concentrated", Measure.WEIGHT),),
        Category.CONCENTRATE: (Contribution("concentrate", Measure.WEIGHT),),
        Category.VAPE: (Contribution("concentrate", Measure.WEIGHT),),
    },
    missing_data=_REFUSE,
)

# 1 oz of flower = 8 g of concentrate = 800 mg of THC in products, added together (adult use).
_CO_CONCENTRATE = OUNCE_GRAMS / 8
_CO_PRODUCT_MG = OUNCE_GRAMS / 800

COLORADO = Profile(
    key="colorado",
    name="Colorado",
    limits={
        "flower_equivalent": Limit(
            Unit.FLOWER_EQUIVALENT_GRAMS, Period.TRANSACTION, OUNCE_GRAMS, None
        ),
        "medical_flower": Limit(Unit.GRAMS, Period.DAY, None, 2 * OUNCE_GRAMS),
        "medical_concentrate": Limit(Unit.GRAMS, Period.DAY, None, 8.0),
    },
    counts={
        Category.FLOWER: (
            Contribution("flower_equivalent", Measure.WEIGHT),
            Contribution("medical_flower", Measure.WEIGHT),
        ),
        Category.PRE_ROLL: (
            Contribution("flower_equivalent", Measure.WEIGHT),
            Contribution("medical_flower", Measure.WEIGHT),
        ),
        Category.CONCENTRATE: (
            Contribution("flower_equivalent", Measure.WEIGHT, _CO_CONCENTRATE),
            Contribution("medical_concentrate", Measure.WEIGHT),
        ),
        Category.VAPE: (
            Contribution("flower_equivalent", Measure.WEIGHT, _CO_CONCENTRATE),
            Contribution("medical_concentrate", Measure.WEIGHT),
        ),
        Category.EDIBLE: (Contribution("flower_equivalent", Measure.THC, _CO_PRODUCT_MG),),
        Category.BEVERAGE: (Contribution("flower_equivalent", Measure.THC, _CO_PRODUCT_MG),),
        Category.TINCTURE: (Contribution("flower_equivalent", Measure.THC, _CO_PRODUCT_MG),),
        Category.CAPSULE: (Contribution("flower_equivalent", Measure.THC, _CO_PRODUCT_MG),),
    },
    missing_data=MissingDataRule(
        MissingData.DEFAULT, default_weight_grams=3.5, default_thc_mg=100.0
    ),
)

# 2.5 oz in all, of which at most 15 g concentrate: concentrate counts toward both.
MICHIGAN = Profile(
    key="michigan",
    name="Michigan",
    limits={
        "marihuana": Limit(Unit.GRAMS, Period.TRANSACTION, 2.5 * OUNCE_GRAMS, 2.5 * OUNCE_GRAMS),
        "concentrate": Limit(Unit.GRAMS, Period.TRANSACTION, 15.0, None),
    },
    counts={
        Category.FLOWER: (Contribution("marihuana", Measure.WEIGHT),),
        Category.PRE_ROLL: (Contribution("marihuana", Measure.WEIGHT),),
        Category.CONCENTRATE: (
            Contribution("marihuana", Measure.WEIGHT),
            Contribution("concentrate", Measure.WEIGHT),
        ),
        Category.VAPE: (
            Contribution("marihuana", Measure.WEIGHT),
            Contribution("concentrate", Measure.WEIGHT),
        ),
    },
    missing_data=_REFUSE,
)

WASHINGTON = Profile(
    key="washington",
    name="Washington",
    limits={
        "useable": Limit(Unit.GRAMS, Period.TRANSACTION, OUNCE_GRAMS, 3 * OUNCE_GRAMS),
        "infused_solid": Limit(Unit.GRAMS, Period.TRANSACTION, 16 * OUNCE_GRAMS, 48 * OUNCE_GRAMS),
        "infused_liquid": Limit(
            Unit.GRAMS, Period.TRANSACTION, 72 * OUNCE_GRAMS, 216 * OUNCE_GRAMS
        ),
        "concentrate": Limit(Unit.GRAMS, Period.TRANSACTION, 7.0, 21.0),
    },
    counts={
        Category.FLOWER: (Contribution("useable", Measure.WEIGHT),),
        Category.PRE_ROLL: (Contribution("useable", Measure.WEIGHT),),
        Category.CONCENTRATE: (Contribution("concentrate", Measure.WEIGHT),),
        Category.VAPE: (Contribution("concentrate", Measure.WEIGHT),),
        Category.EDIBLE: (Contribution("infused_solid", Measure.WEIGHT),),
        Category.CAPSULE: (Contribution("infused_solid", Measure.WEIGHT),),
        Category.BEVERAGE: (Contribution("infused_liquid", Measure.WEIGHT),),
        Category.TINCTURE: (Contribution("infused_liquid", Measure.WEIGHT),),
    },
    missing_data=_REFUSE,
)

PROFILES: Mapping[str, Profile] = {
    profile.key: profile for profile in (CALIFORNIA, COLORADO, MICHIGAN, WASHINGTON)
}
