"""Kiosk API keys: issue (shown once), roll with an overlap, list, revoke."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.auth import repository
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.auth.schemas import KioskKeyCreate, KioskKeyCreated, KioskKeyOut
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models.kiosk import KioskApiKey
from ridgeline.stores.service import get_kiosk


async def issue_key(
    session: AsyncSession,
    scope: TenantScope,
    kiosk_id: uuid.UUID,
    body: KioskKeyCreate,
    *,
    now: datetime,
) -> KioskKeyCreated:
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
    )
    session.add(record)
    await session.flush()
    return KioskKeyCreated(**KioskKeyOut.model_validate(record).model_dump(), key=key)


async def list_keys(
    session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID
) -> list[KioskApiKey]:
    kiosk = await get_kiosk(session, scope, kiosk_id)
    return await repository.kiosk_keys(session, scope, kiosk.id)


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
