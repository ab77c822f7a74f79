"""HTTP surface of compliance for operators: the shipped jurisdiction profiles, a store's
profile with its overrides, and its tax schedules (docs/compliance.md). Kiosks check a cart at
`POST /cart/check`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ridgeline.api.dependencies import AuditDep, ClockDep, SessionDep
from ridgeline.api.schemas import Envelope, ErrorEnvelope, envelope
from ridgeline.auth.dependencies import OrgAdminDep, ViewerDep
from ridgeline.compliance import service
from ridgeline.compliance.schemas import (
    ComplianceSettingsIn,
    ComplianceSettingsOut,
    ProfileOut,
    TaxSettingsIn,
    TaxSettingsOut,
)

router = APIRouter(prefix="/api/v1", tags=["compliance"])


@router.get("/compliance/profiles")
async def list_profiles(caller: ViewerDep) -> Envelope[list[ProfileOut]]:
    """The jurisdiction profiles Ridgeline ships, with every limit, its unit and period, and how
    each product category counts toward them."""
    return envelope(service.shipped_profiles())


@router.get("/stores/{store_id}/compliance")
async def get_store_compliance(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[ComplianceSettingsOut]:
    """The store's profile, its overrides, and the figures its orders are checked by."""
    return envelope(await service.settings(session, caller.scope, store_id))


@router.put("/stores/{store_id}/compliance", responses={422: {"model": ErrorEnvelope}})
async def put_store_compliance(
    store_id: uuid.UUID,
    body: ComplianceSettingsIn,
    caller: OrgAdminDep,
    session: SessionDep,
    audit: AuditDep,
) -> Envelope[ComplianceSettingsOut]:
    """Set the store's profile (null: no purchase limits) and its overrides, replacing both.
    An override names a limit category of the profile in its unit; 422 `VALIDATION` with the
    field otherwise."""
    before = await service.settings(session, caller.scope, store_id)
    after = await service.update_settings(session, caller.scope, store_id, body)
    # The profile and overrides set; `effective` follows from them.
    await audit.record(
        caller,
        "store.compliance.update",
        store_id=store_id,
        before=before.model_dump(include={"profile", "overrides"}),
        after=after.model_dump(include={"profile", "overrides"}),
    )
    return envelope(after)


@router.get("/stores/{store_id}/taxes")
async def get_store_taxes(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, clock: ClockDep
) -> Envelope[TaxSettingsOut]:
    """The store's tax schedules as set (null: its profile's state taxes), the schedule its
    carts and orders are taxed by today, and the ones that begin later."""
    return envelope(await service.tax_settings(session, caller.scope, store_id, clock.now()))


@router.put("/stores/{store_id}/taxes", responses={422: {"model": ErrorEnvelope}})
async def put_store_taxes(
    store_id: uuid.UUID,
    body: TaxSettingsIn,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[TaxSettingsOut]:
    """Set the store's tax schedules, replacing them all (`schedules: null`: its profile's
    state taxes; `[]`: none). Rates are decimal strings; 422 `VALIDATION_ERROR` with the field
    otherwise (docs/compliance.md#setting-a-stores-taxes)."""
    now = clock.now()
    before = await service.tax_settings(session, caller.scope, store_id, now)
    after = await service.update_tax_settings(session, caller.scope, store_id, body, now)
    await audit.record(
        caller,
        "store.taxes.update",
        store_id=store_id,
        before=before.model_dump(mode="json", include={"schedules"}),
        after=after.model_dump(mode="json", include={"schedules"}),
    )
    return envelope(after)
