"""Rules for organizations, stores and kiosks. Services flush, never commit."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, PageResult, paginate
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import AlreadyExists, NotEmpty, NotFound, ValidationFailed
from ridgeline.models.kiosk import Kiosk
from ridgeline.models.organization import Organization
from ridgeline.models.store import Store
from ridgeline.stores import repository
from ridgeline.stores.schemas import (
    KioskCreate,
    KioskUpdate,
    OrganizationCreate,
    OrganizationUpdate,
    StoreCreate,
    StoreUpdate,
)

# Organizations


async def list_organizations(
    session: AsyncSession, scope: TenantScope, page: PageRequest
) -> PageResult[Organization]:
    return await paginate(session, repository.organizations(scope), Organization, page)


async def get_organization(
    session: AsyncSession, scope: TenantScope, organization_id: uuid.UUID
) -> Organization:
    found = await repository.organization(session, scope, organization_id)
    if found is None:
        raise NotFound("organization", organization_id)
    return found


async def create_organization(session: AsyncSession, body: OrganizationCreate) -> Organization:
    if await repository.slug_taken(session, body.slug):
        raise AlreadyExists(
            "An organization with this slug already exists.", details={"field": "slug"}
        )
    organization = Organization(name=body.name, slug=body.slug)
    session.add(organization)
    await session.flush()
    return organization


async def update_organization(
    session: AsyncSession, scope: TenantScope, organization_id: uuid.UUID, body: OrganizationUpdate
) -> Organization:
    organization = await get_organization(session, scope, organization_id)
    for field, value in body.changes().items():
        setattr(organization, field, value)
    await session.flush()
    return organization


async def delete_organization(
    session: AsyncSession, scope: TenantScope, organization_id: uuid.UUID
) -> None:
    organization = await get_organization(session, scope, organization_id)
    if await repository.has_stores(session, organization.id):
        raise NotEmpty("Delete the organization's stores first.", details={"children": "stores"})
    await session.delete(organization)
    await session.flush()


# Stores


async def list_stores(
    session: AsyncSession,
    scope: TenantScope,
    page: PageRequest,
    *,
    organization_id: uuid.UUID | None = None,
) -> PageResult[Store]:
    statement = repository.stores(scope, organization_id=organization_id)
    return await paginate(session, statement, Store, page)


async def get_store(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, for_update: bool = False
) -> Store:
    found = await repository.store(session, scope, store_id, for_update=for_update)
    if found is None:
        raise NotFound("store", store_id)
    return found


async def create_store(
    session: AsyncSession, caller: OperatorPrincipal, body: StoreCreate
) -> Store:
    organization_id = body.organization_id or caller.organization_id
    if organization_id is None:
        raise ValidationFailed.for_fields(
            [{"loc": ["body", "organization_id"], "message": "Field required", "type": "missing"}]
        )
    organization = await get_organization(session, caller.scope, organization_id)
    if await repository.store_name_taken(session, organization.id, body.name, except_id=None):
        raise AlreadyExists("A store with this name already exists.", details={"field": "name"})
    store = Store(
        organization_id=organization.id,
        name=body.name,
        timezone=body.timezone,
        currency=body.currency,
    )
    session.add(store)
    await session.flush()
    return store


async def update_store(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, body: StoreUpdate
) -> Store:
    store = await get_store(session, scope, store_id)
    changes = body.changes()
    new_name = changes.get("name")
    if isinstance(new_name, str) and await repository.store_name_taken(
        session, store.organization_id, new_name, except_id=store.id
    ):
        raise AlreadyExists("A store with this name already exists.", details={"field": "name"})
    for field, value in changes.items():
        setattr(store, field, value)
    await session.flush()
    return store


async def delete_store(session: AsyncSession, scope: TenantScope, store_id: uuid.UUID) -> None:
    store = await get_store(session, scope, store_id)
    if await repository.has_kiosks(session, store.id):
        raise NotEmpty("Delete the store's kiosks first.", details={"children": "kiosks"})
    await session.delete(store)
    await session.flush()


# Kiosks


async def list_kiosks(
    session: AsyncSession,
    scope: TenantScope,
    page: PageRequest,
    *,
    store_id: uuid.UUID | None = None,
) -> PageResult[Kiosk]:
    return await paginate(session, repository.kiosks(scope, store_id=store_id), Kiosk, page)


async def get_kiosk(session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID) -> Kiosk:
    found = await repository.kiosk(session, scope, kiosk_id)
    if found is None:
        raise NotFound("kiosk", kiosk_id)
    return found


async def create_kiosk(session: AsyncSession, scope: TenantScope, body: KioskCreate) -> Kiosk:
    store = await get_store(session, scope, body.store_id)
    kiosk = Kiosk(organization_id=store.organization_id, store_id=store.id, name=body.name)
    session.add(kiosk)
    await session.flush()
    return kiosk


async def update_kiosk(
    session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID, body: KioskUpdate
) -> Kiosk:
    kiosk = await get_kiosk(session, scope, kiosk_id)
    for field, value in body.changes().items():
        setattr(kiosk, field, value)
    await session.flush()
    return kiosk


async def delete_kiosk(session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID) -> None:
    kiosk = await get_kiosk(session, scope, kiosk_id)
    await session.delete(kiosk)
    await session.flush()
