"""How much of each limit category a cart uses: pure arithmetic over a profile and the cart's
lines, no database. Quantities are `Decimal`, rounded half up to `PRECISION` (a thousandth of
the unit) once per category, so a cart exactly at a limit is at it, not a float's width over."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ridgeline.compliance.profiles import (
    CustomerType,
    Measure,
    MissingData,
    Period,
    Profile,
    Unit,
)
from ridgeline.pos.canonical import Category

PRECISION = Decimal("0.001")


def quantize(value: Decimal) -> Decimal:
    return value.quantize(PRECISION, rounding=ROUND_HALF_UP)


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class CountedLine:
    """One cart line as the limits see it: per unit weight and THC, as the catalog has them."""

    index: int
    category: str
    quantity: int
    weight_grams: float | None
    thc: Mapping[str, Any] | None


@dataclass(frozen=True)
class LimitUsage:
    category: str
    unit: Unit
    period: Period
    used: Decimal
    limit: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.limit - self.used, Decimal(0))

    @property
    def over_by(self) -> Decimal:
        return max(self.used - self.limit, Decimal(0))


@dataclass(frozen=True)
class MissingMeasure:
    """A line whose product lacks what a limit counts; `counted_at` is the per-unit default it
    was counted at, or None when the profile refuses such lines."""

    index: int
    measure: Measure
    counted_at: Decimal | None


@dataclass(frozen=True)
class CartUsage:
    limits: list[LimitUsage]
    missing: list[MissingMeasure]

    @property
    def exceeded(self) -> list[LimitUsage]:
        return [usage for usage in self.limits if usage.over_by > 0]

    @property
    def refused(self) -> list[MissingMeasure]:
        return [missing for missing in self.missing if missing.counted_at is None]


def thc_mg(weight_grams: float | None, thc: Mapping[str, Any] | None) -> Decimal | None:
    """THC per unit sold: a potency in mg is per unit already; a percentage needs the weight."""
    if not thc or thc.get("value") is None:
        return None
    value = _decimal(float(thc["value"]))
    if thc.get("unit") == "mg":
        return value
    if weight_grams is None:
        return None
    return value * _decimal(weight_grams) * 10  # percent of grams, in mg


def _per_unit(profile: Profile, line: CountedLine, measure: Measure) -> tuple[Decimal | None, bool]:
    """The line's per-unit amount of `measure`, and whether it was missing."""
    if measure is Measure.WEIGHT:
        found = None if line.weight_grams is None else _decimal(line.weight_grams)
        default = profile.missing_data.default_weight_grams
    else:
        found = thc_mg(line.weight_grams, line.thc)
        default = profile.missing_data.default_thc_mg
    if found is not None:
        return found, False
    if profile.missing_data.action is MissingData.DEFAULT:
        return _decimal(default), True
    return None, True


def cart_usage(profile: Profile, customer: CustomerType, lines: Iterable[CountedLine]) -> CartUsage:
    """Every limit of the profile that applies to `customer`, with what the lines use of it."""
    applying = {
        key: limit for key, limit in profile.limits.items() if limit.value(customer) is not None
    }
    used = {key: Decimal(0) for key in applying}
    missing: list[MissingMeasure] = []
    for line in lines:
        contributions = [
            c for c in profile.counts.get(Category(line.category), ()) if c.limit in applying
        ]
        for measure in sorted({c.measure for c in contributions}):
            amount, was_missing = _per_unit(profile, line, measure)
            if was_missing:
                missing.append(MissingMeasure(line.index, measure, amount))
            if amount is None:
                continue
            for contribution in contributions:
                if contribution.measure is measure:
                    used[contribution.limit] += (
                        amount * line.quantity * _decimal(contribution.factor)
                    )
    return CartUsage(
        limits=[
            LimitUsage(
                category=key,
                unit=limit.unit,
                period=limit.period,
                used=quantize(used[key]),
                limit=quantize(_decimal(limit.value(customer) or 0.0)),
            )
            for key, limit in applying.items()
        ],
        missing=missing,
    )
