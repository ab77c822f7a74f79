"""Queries over organizations, stores and kiosks, always through the tenant scope."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.kiosk import Kiosk
from ridgeline.models.organization import Organization
from ridgeline.models.store import Store


def organizations(scope: TenantScope) -> Select[Organization]:
    return scoped(select(Organization), Organization, scope)


def stores(scope: TenantScope, *, organization_id: uuid.UUID | None = None) -> Select[Store]:
    statement = scoped(select(Store), Store, scope)
    if organization_id is not None:
        statement = statement.where(Store.organization_id == organization_id)
    return statement


def kiosks(scope: TenantScope, *, store_id: uuid.UUID | None = None) -> Select[Kiosk]:
    statement = scoped(select(Kiosk), Kiosk, scope)
    if store_id is not None:
        statement = statement.where(Kiosk.store_id == store_id)
    return statement


async def organization(
    session: AsyncSession, scope: TenantScope, organization_id: uuid.UUID
) -> Organization | None:
    return await session.scalar(organizations(scope).where(Organization.id == organization_id))


async def store(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, for_update: bool = False
) -> Store | None:
    """`for_update` locks the row until the transaction ends (PostgreSQL; SQLite's writers are
    serialised already) and reloads it, for a read-modify-write that must not interleave."""
    statement = stores(scope).where(Store.id == store_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def kiosk(session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID) -> Kiosk | None:
    return await session.scalar(kiosks(scope).where(Kiosk.id == kiosk_id))


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    # Slugs are unique across all organizations, so this check is deliberately unscoped.
    return bool(await session.scalar(select(exists().where(Organization.slug == slug))))


async def organization_by_slug(
    session: AsyncSession, scope: TenantScope, slug: str
) -> Organization | None:
    return await session.scalar(organizations(scope).where(Organization.slug == slug))


async def stores_with_pos(session: AsyncSession, scope: TenantScope) -> list[Store]:
    """The stores that have POS credentials stored."""
    statement = stores(scope).where(Store.pos_config_encrypted.is_not(None))
    return list((await session.scalars(statement)).all())


async def store_name_taken(
    session: AsyncSession, organization_id: uuid.UUID, name: str, *, except_id: uuid.UUID | None
) -> bool:
    statement = select(Store.id).where(Store.organization_id == organization_id, Store.name == name)
    if except_id is not None:
        statement = statement.where(Store.id != except_id)
    return (await session.scalar(statement.limit(1))) is not None


async def has_stores(session: AsyncSession, organization_id: uuid.UUID) -> bool:
    statement = select(exists().where(Store.organization_id == organization_id))
    return bool(await session.scalar(statement))


async def has_kiosks(session: AsyncSession, store_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(Kiosk.store_id == store_id))))
