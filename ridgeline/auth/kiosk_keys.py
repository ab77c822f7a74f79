"""Kiosk API keys: issue (shown once), roll with an overlap, list, revoke.

Operators issue a kiosk its own keys (`kiosk`). `ridgeline doctor` issues `diagnostic` ones to act
as the kiosk for its real-time round trip: valid `DIAGNOSTIC_KEY_LIFETIME_S` at most and revoked
when done, they never mark the kiosk seen, and once spent they leave the kiosk's key list (a
doctor run every minute would otherwise bury the kiosk's own keys) and, a day later, the table
(auth/tasks.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.auth import repository
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.auth.schemas import KioskKeyCreate, KioskKeyCreated, KioskKeyOut
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models.kiosk import KioskApiKey, KioskKeyPurpose
from ridgeline.stores.service import get_kiosk

DIAGNOSTIC_KEY_LIFETIME_S = 120


async def issue_key(
    session: AsyncSession,
    scope: TenantScope,
    kiosk_id: uuid.UUID,
    body: KioskKeyCreate,
    *,
    now: datetime,
    purpose: KioskKeyPurpose = KioskKeyPurpose.KIOSK,
) -> KioskKeyCreated:
    """A new key for the kiosk. A diagnostic one (the doctor's, never an operator's request)
    must expire within `DIAGNOSTIC_KEY_LIFETIME_S` and cannot roll the kiosk's keys."""
    if purpose is KioskKeyPurpose.DIAGNOSTIC and (
        body.expires_in_s is None
        or body.expires_in_s > DIAGNOSTIC_KEY_LIFETIME_S
        or body.expire_existing_in_s is not None
    ):
        raise ValueError(
            f"a diagnostic key expires within {DIAGNOSTIC_KEY_LIFETIME_S} s and rolls nothing"
        )
    kiosk = await get_kiosk(session, scope, kiosk_id)
    if body.expire_existing_in_s is not None:
        cutoff = now + timedelta(seconds=body.expire_existing_in_s)
        for existing in await repository.kiosk_keys(session, scope, kiosk.id):
            if existing.revoked_at is None and (
                existing.expires_at is None or existing.expires_at > cutoff
            ):
                existing.expires_at = cutoff
    key = new_kiosk_key()
    record = KioskApiKey(
        organization_id=kiosk.organization_id,
        kiosk_id=kiosk.id,
        key_hash=digest(key),
        key_prefix=display_prefix(key),
        created_at=now,
        expires_at=now + timedelta(seconds=body.expires_in_s) if body.expires_in_s else None,
        purpose=purpose,
    )
    session.add(record)
    await session.flush()
    return KioskKeyCreated(**KioskKeyOut.model_validate(record).model_dump(), key=key)


def _listed(key: KioskApiKey, now: datetime) -> bool:
    """Every key of the kiosk's own; a diagnostic key only while it can still authenticate."""
    if key.purpose is not KioskKeyPurpose.DIAGNOSTIC:
        return True
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


async def list_keys(
    session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID, *, now: datetime
) -> list[KioskApiKey]:
    kiosk = await get_kiosk(session, scope, kiosk_id)
    return [
        key for key in await repository.kiosk_keys(session, scope, kiosk.id) if _listed(key, now)
    ]


async def revoke_key(
    session: AsyncSession,
    scope: TenantScope,
    kiosk_id: uuid.UUID,
    key_id: uuid.UUID,
    *,
    now: datetime,
) -> KioskApiKey:
    kiosk = await get_kiosk(session, scope, kiosk_id)
    key = await repository.kiosk_key(session, scope, kiosk.id, key_id)
    if key is None:
        raise NotFound("kiosk_api_key", key_id)
    if key.revoked_at is None:
        key.revoked_at = now
    await session.flush()
    return key
