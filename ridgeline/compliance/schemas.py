"""What the compliance API reads and answers."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from ridgeline.api.schemas import RequestBody
from ridgeline.compliance.profiles import Measure, MissingData, Period, Profile, Unit

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

    @classmethod
    def of(cls, profile: Profile) -> ProfileOut:
        return cls(
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
