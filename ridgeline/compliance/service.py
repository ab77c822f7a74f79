"""A store's compliance settings: its profile and its overrides, validated against the profile,
and the effective profile its carts and orders are checked by. Services flush, never commit."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.compliance.profiles import PROFILES, Limit, Measure, Profile
from ridgeline.compliance.schemas import (
    ComplianceOverrides,
    ComplianceSettingsIn,
    ComplianceSettingsOut,
    ProfileOut,
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


def _field(loc: list[str], message: str, kind: str) -> Mapping[str, Any]:
    return {"loc": ["body", *loc], "message": message, "type": kind}
