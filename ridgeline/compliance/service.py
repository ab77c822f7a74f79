"""A store's compliance settings: its profile and its overrides, validated against the profile,
and the effective profile its carts and orders are checked by. Services flush, never commit."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.compliance.profiles import PROFILES, Limit, Measure, Profile
from ridgeline.compliance.schemas import (
    ComplianceOverrides,
    ComplianceSettingsIn,
    ComplianceSettingsOut,
    ProfileOut,
    TaxScheduleIn,
    TaxSettingsIn,
    TaxSettingsOut,
)
from ridgeline.compliance.tax_profiles import STATE_TAXES
from ridgeline.compliance.taxes import (
    ROUNDING_RULE,
    TaxBasis,
    TaxKind,
    TaxSchedule,
    schedule_on,
)
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound, ValidationFailed
from ridgeline.models.store import Store
from ridgeline.pos.canonical import CanonicalProduct, PotencyUnit
from ridgeline.stores import repository as stores


def shipped_profiles() -> list[ProfileOut]:
    return [ProfileOut.of(profile) for profile in PROFILES.values()]


def apply_overrides(profile: Profile, overrides: ComplianceOverrides) -> Profile:
    """The profile with the store's figures over its own; the overrides are already valid."""
    limits: dict[str, Limit] = dict(profile.limits)
    for key, change in overrides.limits.items():
        limit = limits.get(key)
        if limit is None:
            # A category a later version of the profile dropped: its override has nothing left
            # to change, and a store's orders must not fail over it.
            continue
        limits[key] = dataclasses.replace(
            limit,
            adult_use=limit.adult_use if change.adult_use is None else change.adult_use,
            medical=limit.medical if change.medical is None else change.medical,
        )
    missing = profile.missing_data
    if overrides.missing_data is not None:
        given = overrides.missing_data.model_dump(exclude_none=True)
        missing = dataclasses.replace(missing, **given)
    return dataclasses.replace(profile, limits=limits, missing_data=missing)


def store_profile(store: Store) -> Profile | None:
    """The profile `store`'s orders are checked by, with its overrides; None without one."""
    profile = PROFILES.get(store.compliance_profile or "")
    if profile is None:
        return None
    overrides = ComplianceOverrides.model_validate(store.compliance_overrides or {})
    return apply_overrides(profile, overrides)


def missing_measures(profile: Profile, product: CanonicalProduct) -> list[str]:
    """What of a synced product its store's limits count but the POS did not provide."""
    measures = profile.measures(product.category)
    thc = product.thc
    # A percentage potency becomes milligrams through the weight.
    by_percent = thc is not None and thc.unit is PotencyUnit.PERCENT
    missing: list[str] = []
    if Measure.WEIGHT in measures or (Measure.THC in measures and by_percent):
        missing += [
            f"variant {variant.external_id} has no weight"
            for variant in product.variants
            if variant.weight_grams is None
        ]
    if Measure.THC in measures and thc is None:
        missing.append("the product has no THC potency")
    return missing


async def settings(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> ComplianceSettingsOut:
    return _settings_view(await _store(session, scope, store_id))


async def update_settings(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, body: ComplianceSettingsIn
) -> ComplianceSettingsOut:
    store = await _store(session, scope, store_id)
    _check(body)
    store.compliance_profile = body.profile
    store.compliance_overrides = body.overrides.model_dump(mode="json", exclude_none=True)
    await session.flush()
    return _settings_view(store)


async def _store(session: AsyncSession, scope: TenantScope, store_id: uuid.UUID) -> Store:
    store = await stores.store(session, scope, store_id)
    if store is None:
        raise NotFound("store", store_id)
    return store


def _settings_view(store: Store) -> ComplianceSettingsOut:
    effective = store_profile(store)
    return ComplianceSettingsOut(
        store_id=store.id,
        profile=store.compliance_profile,
        overrides=ComplianceOverrides.model_validate(store.compliance_overrides or {}),
        effective=None if effective is None else ProfileOut.of(effective),
    )


def _check(body: ComplianceSettingsIn) -> None:
    """Overrides name the profile's categories in their units; no profile takes no overrides."""
    fields: list[Mapping[str, Any]] = []
    profile = PROFILES.get(body.profile or "")
    if body.profile is not None and profile is None:
        known = ", ".join(PROFILES)
        fields.append(_field(["profile"], f"Unknown profile; one of {known}.", "enum"))
    limits = profile.limits if profile is not None else {}
    for key, change in body.overrides.limits.items():
        where = ["overrides", "limits", key[:40]]
        limit = limits.get(key)
        if limit is None:
            known = ", ".join(limits) or "none without a profile"
            fields.append(_field(where, f"Not a limit category of the profile ({known}).", "key"))
        elif change.unit is not limit.unit:
            fields.append(
                _field([*where, "unit"], f"This category is in {limit.unit.value}.", "unit")
            )
    if fields:
        raise ValidationFailed.for_fields(fields)


def _field(loc: Sequence[str], message: str, kind: str) -> Mapping[str, Any]:
    return {"loc": ["body", *loc], "message": message, "type": kind}


# Taxes


def store_day(store: Store, now: datetime) -> date:
    """Today in the store's time zone: the day a tax schedule is chosen by."""
    try:
        zone = ZoneInfo(store.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def tax_schedules(store: Store) -> tuple[list[TaxSchedule], str]:
    """The store's schedules and where they come from: its own (`store`), its profile's state
    taxes (`profile`), or none."""
    stored = store.tax_settings
    if stored is not None:
        settings = TaxSettingsIn.model_validate(stored)
        if settings.schedules is not None:
            return [schedule.to_schedule() for schedule in settings.schedules], "store"
    state_taxes = STATE_TAXES.get(store.compliance_profile or "")
    if state_taxes is not None:
        return [state_taxes], "profile"
    return [], "none"


def store_tax_schedule(store: Store, now: datetime) -> tuple[TaxSchedule | None, str]:
    """The schedule `store`'s carts and orders are taxed by at `now`, and its source."""
    schedules, source = tax_schedules(store)
    return schedule_on(schedules, store_day(store, now)), source


async def tax_settings(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, now: datetime
) -> TaxSettingsOut:
    return _tax_view(await _store(session, scope, store_id), now)


async def update_tax_settings(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    body: TaxSettingsIn,
    now: datetime,
) -> TaxSettingsOut:
    store = await _store(session, scope, store_id)
    _check_taxes(body)
    store.tax_settings = body.model_dump(mode="json")
    await session.flush()
    return _tax_view(store, now)


def _tax_view(store: Store, now: datetime) -> TaxSettingsOut:
    schedules, source = tax_schedules(store)
    today = store_day(store, now)
    in_effect = schedule_on(schedules, today)
    stored = TaxSettingsIn.model_validate(store.tax_settings or {"schedules": None})
    return TaxSettingsOut(
        store_id=store.id,
        schedules=stored.schedules,
        source=source,
        in_effect=None if in_effect is None else TaxScheduleIn.of(in_effect),
        upcoming=[
            TaxScheduleIn.of(schedule)
            for schedule in sorted(schedules, key=lambda schedule: schedule.effective_from)
            if schedule.effective_from > today
        ],
        rounding=ROUNDING_RULE,
    )


_EARLIEST_DAY = date(2000, 1, 1)
_LATEST_DAY = date(2100, 12, 31)


def _check_taxes(body: TaxSettingsIn) -> None:
    """What the field types cannot say: units go with the weight basis, a percent is at most
    100, the excise-in-base flag is an excise's, keys and days are unique."""
    fields: list[Mapping[str, Any]] = []
    days: set[date] = set()
    for at, schedule in enumerate(body.schedules or []):
        where = ["schedules", str(at)]
        day = schedule.effective_from
        if not _EARLIEST_DAY <= day <= _LATEST_DAY:
            fields.append(_field([*where, "effective_from"], "A day from 2000 to 2100.", "date"))
        if day in days:
            fields.append(
                _field([*where, "effective_from"], "Another schedule begins that day.", "unique")
            )
        days.add(day)
        keys: set[str] = set()
        for index, tax in enumerate(schedule.taxes):
            here = [*where, "taxes", str(index)]
            if tax.key in keys:
                fields.append(
                    _field([*here, "key"], "Another tax of the schedule has it.", "unique")
                )
            keys.add(tax.key)
            if tax.basis is TaxBasis.PRICE and Decimal(tax.rate) > 100:
                fields.append(_field([*here, "rate"], "A percent is at most 100.", "range"))
            if tax.basis is TaxBasis.WEIGHT and tax.unit is None:
                fields.append(_field([*here, "unit"], "A weight basis needs g or oz.", "missing"))
            if tax.basis is TaxBasis.PRICE and tax.unit is not None:
                fields.append(_field([*here, "unit"], "Only a weight basis has a unit.", "extra"))
            if tax.kind is TaxKind.SALES and tax.basis is TaxBasis.WEIGHT:
                fields.append(_field([*here, "basis"], "A sales tax is on the price.", "enum"))
            if tax.kind is TaxKind.SALES and tax.in_sales_tax_base:
                fields.append(
                    _field([*here, "in_sales_tax_base"], "Only an excise tax can be.", "extra")
                )
            if tax.categories is not None and len(set(tax.categories)) != len(tax.categories):
                fields.append(_field([*here, "categories"], "A category is repeated.", "unique"))
            if len(set(tax.customers)) != len(tax.customers):
                fields.append(
                    _field([*here, "customers"], "A customer type is repeated.", "unique")
                )
    if fields:
        raise ValidationFailed.for_fields(fields)
