"""What the compliance API reads and answers."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, field_validator

from ridgeline.api.schemas import RequestBody
from ridgeline.compliance.profiles import (
    CustomerType,
    Measure,
    MissingData,
    Period,
    Profile,
    Unit,
)
from ridgeline.compliance.tax_profiles import STATE_TAXES
from ridgeline.compliance.taxes import Tax, TaxBasis, TaxKind, TaxSchedule, WeightUnit
from ridgeline.pos.canonical import Category

_MAX_FIGURE = 1_000_000.0


def _figure(description: str) -> Any:
    return Field(default=None, ge=0, le=_MAX_FIGURE, allow_inf_nan=False, description=description)


class LimitOverride(RequestBody):
    """A store's own figures for one of its profile's limit categories; an omitted figure keeps
    the profile's."""

    unit: Unit = Field(description="Must be the category's unit: a figure is never converted.")
    adult_use: float | None = _figure("The adult-use limit, in `unit`.")
    medical: float | None = _figure("The medical limit, in `unit`.")


class MissingDataOverride(RequestBody):
    action: MissingData | None = None
    default_weight_grams: float | None = _figure("Counted per unit when a weight is missing.")
    default_thc_mg: float | None = _figure("Counted per unit when a potency is missing.")


class ComplianceOverrides(RequestBody):
    limits: dict[str, LimitOverride] = Field(default_factory=dict, max_length=50)
    missing_data: MissingDataOverride | None = None


class ComplianceSettingsIn(RequestBody):
    profile: str | None = Field(
        max_length=32,
        description="A key of `GET /compliance/profiles`, or null: no purchase limits checked.",
    )
    overrides: ComplianceOverrides = Field(default_factory=ComplianceOverrides)


class LimitOut(BaseModel):
    category: str
    unit: Unit
    period: Period
    adult_use: float | None
    medical: float | None


class ContributionOut(BaseModel):
    limit: str
    measure: Measure
    factor: float = Field(description="Limit units per gram (weight) or per mg of THC (thc).")


class MissingDataOut(BaseModel):
    action: MissingData
    default_weight_grams: float
    default_thc_mg: float


class ProfileOut(BaseModel):
    key: str
    name: str
    limits: list[LimitOut]
    counts: dict[str, list[ContributionOut]] = Field(
        description="Per canonical product category, what it counts toward."
    )
    missing_data: MissingDataOut
    taxes: TaxScheduleIn | None = Field(
        description="The state taxes a store with this profile is taxed by until it sets its "
        "own (docs/compliance.md#shipped-state-taxes)."
    )

    @classmethod
    def of(cls, profile: Profile) -> ProfileOut:
        state_taxes = STATE_TAXES.get(profile.key)
        return cls(
            taxes=None if state_taxes is None else TaxScheduleIn.of(state_taxes),
            key=profile.key,
            name=profile.name,
            limits=[
                LimitOut(
                    category=key,
                    unit=limit.unit,
                    period=limit.period,
                    adult_use=limit.adult_use,
                    medical=limit.medical,
                )
                for key, limit in profile.limits.items()
            ],
            counts={
                category.value: [
                    ContributionOut(limit=c.limit, measure=c.measure, factor=c.factor)
                    for c in contributions
                ]
                for category, contributions in profile.counts.items()
            },
            missing_data=MissingDataOut(
                action=profile.missing_data.action,
                default_weight_grams=profile.missing_data.default_weight_grams,
                default_thc_mg=profile.missing_data.default_thc_mg,
            ),
        )


class ComplianceSettingsOut(BaseModel):
    store_id: uuid.UUID
    profile: str | None
    overrides: ComplianceOverrides
    effective: ProfileOut | None = Field(
        description="The profile with the store's overrides applied: what orders are checked by."
    )


# Taxes (docs/compliance.md#taxes)

# A rate as a decimal string: never a JSON number, so no float ever carries money.
_RATE_PATTERN = r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,4})?$"
MAX_SCHEDULES = 20
MAX_TAXES = 20


class TaxIn(RequestBody):
    """One tax of a schedule."""

    key: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Its name in figures and on orders: lower case, digits, underscores; "
        "unique in the schedule.",
    )
    name: str = Field(min_length=1, max_length=80, description="As the shopper reads it.")
    kind: TaxKind = Field(description="sales, or excise (computed first).")
    basis: TaxBasis = Field(
        default=TaxBasis.PRICE, description="price (a percent), or weight (cents per unit)."
    )
    rate: str = Field(
        pattern=_RATE_PATTERN,
        max_length=12,
        description='A decimal string, never a number: a percent for the price basis ("7.25" '
        'is 7.25 %, at most 100), cents per `unit` for the weight basis ("35.5"). Up to four '
        "decimals.",
    )
    unit: WeightUnit | None = Field(
        default=None, description="g or oz: required for the weight basis, refused otherwise."
    )
    categories: list[Category] | None = Field(
        default=None,
        max_length=len(Category),
        description="The product categories it falls on; null: every category.",
    )
    customers: list[CustomerType] = Field(
        default_factory=lambda: list(CustomerType),
        min_length=1,
        max_length=len(CustomerType),
        description="Who pays it: a tax medical patients are exempt from lists adult_use only.",
    )
    in_sales_tax_base: bool = Field(
        default=False,
        description="Excise only: the sales taxes are computed on the price plus this tax.",
    )

    def to_tax(self) -> Tax:
        return Tax(
            key=self.key,
            name=self.name,
            kind=self.kind,
            basis=self.basis,
            rate=Decimal(self.rate),
            unit=self.unit,
            categories=None if self.categories is None else frozenset(self.categories),
            customers=frozenset(self.customers),
            in_sales_tax_base=self.in_sales_tax_base,
        )

    @classmethod
    def of(cls, tax: Tax) -> TaxIn:
        return cls(
            key=tax.key,
            name=tax.name,
            kind=tax.kind,
            basis=tax.basis,
            rate=str(tax.rate),
            unit=tax.unit,
            categories=None if tax.categories is None else sorted(tax.categories),
            customers=sorted(tax.customers),
            in_sales_tax_base=tax.in_sales_tax_base,
        )


class TaxScheduleIn(RequestBody):
    effective_from: date = Field(
        description="The first day (in the store's time zone) these taxes apply, ISO 8601."
    )
    taxes: list[TaxIn] = Field(max_length=MAX_TAXES)

    @field_validator("effective_from", mode="before")
    @classmethod
    def _a_day_as_text(cls, value: object) -> object:
        # Pydantic would read a number as a Unix time; a day is written as YYYY-MM-DD.
        if not isinstance(value, (str, date)):
            raise ValueError("a day as YYYY-MM-DD")
        return value

    def to_schedule(self) -> TaxSchedule:
        return TaxSchedule(self.effective_from, tuple(tax.to_tax() for tax in self.taxes))

    @classmethod
    def of(cls, schedule: TaxSchedule) -> TaxScheduleIn:
        return cls(
            effective_from=schedule.effective_from,
            taxes=[TaxIn.of(tax) for tax in schedule.taxes],
        )


class TaxSettingsIn(RequestBody):
    schedules: list[TaxScheduleIn] | None = Field(
        max_length=MAX_SCHEDULES,
        description="The store's tax schedules, each from its day until the next one's; null: "
        "the state taxes of the store's profile; [] : no taxes.",
    )


class TaxSettingsOut(BaseModel):
    store_id: uuid.UUID
    schedules: list[TaxScheduleIn] | None = Field(description="As set; null: the profile's.")
    source: str = Field(
        description="store (its own schedules), profile (its profile's state taxes) or none."
    )
    in_effect: TaxScheduleIn | None = Field(
        description="The schedule its carts and orders are taxed by today; null: no taxes."
    )
    upcoming: list[TaxScheduleIn] = Field(description="Schedules that begin after today.")
    rounding: str = Field(description="line_half_up: each tax of each line, half up to a cent.")


ProfileOut.model_rebuild()
