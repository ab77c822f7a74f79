"""HTTP surface of organizations, stores and kiosks."""

from __future__ import annotations

import functools
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ridgeline.api.dependencies import AfterCommitDep, AuditDep, HubDep, SessionDep
from ridgeline.api.pagination import PageDep, page_of
from ridgeline.api.schemas import Envelope, Page, envelope
from ridgeline.auth.dependencies import (
    KioskDep,
    OrgAdminDep,
    PlatformAdminDep,
    StoreManagerDep,
    ViewerDep,
)
from ridgeline.models.kiosk import KioskStatus
from ridgeline.realtime.presence import annotate_presence, with_presence
from ridgeline.stores import service
from ridgeline.stores.schemas import (
    KioskCreate,
    KioskOut,
    KioskUpdate,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
    StoreCreate,
    StoreOut,
    StoreUpdate,
)

router = APIRouter(prefix="/api/v1")


# Organizations


@router.get("/organizations", tags=["organizations"])
async def list_organizations(
    caller: ViewerDep, session: SessionDep, page: PageDep
) -> Page[OrganizationOut]:
    """Organizations you can see: your own, or every one for platform admins."""
    result = await service.list_organizations(session, caller.scope, page)
    return page_of(result, OrganizationOut)


@router.post("/organizations", status_code=status.HTTP_201_CREATED, tags=["organizations"])
async def create_organization(
    body: OrganizationCreate, caller: PlatformAdminDep, session: SessionDep, audit: AuditDep
) -> Envelope[OrganizationOut]:
    """Create an organization (a retailer). Platform admins only."""
    organization = OrganizationOut.model_validate(await service.create_organization(session, body))
    await audit.record(
        caller,
        "organization.create",
        organization_id=organization.id,
        target=organization.id,
        after=organization,
    )
    return envelope(organization)


@router.get("/organizations/{organization_id}", tags=["organizations"])
async def get_organization(
    organization_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[OrganizationOut]:
    organization = await service.get_organization(session, caller.scope, organization_id)
    return envelope(OrganizationOut.model_validate(organization))


@router.patch("/organizations/{organization_id}", tags=["organizations"])
async def update_organization(
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    caller: OrgAdminDep,
    session: SessionDep,
    audit: AuditDep,
) -> Envelope[OrganizationOut]:
    """Rename an organization (its slug never changes)."""
    before = OrganizationOut.model_validate(
        await service.get_organization(session, caller.scope, organization_id)
    )
    organization = await service.update_organization(session, caller.scope, organization_id, body)
    after = OrganizationOut.model_validate(organization)
    await audit.record(
        caller,
        "organization.update",
        organization_id=after.id,
        target=after.id,
        before=before,
        after=after,
    )
    return envelope(after)


@router.delete(
    "/organizations/{organization_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["organizations"],
)
async def delete_organization(
    organization_id: uuid.UUID, caller: PlatformAdminDep, session: SessionDep, audit: AuditDep
) -> Response:
    """Delete an organization that has no stores left (its operators go with it)."""
    before = OrganizationOut.model_validate(
        await service.get_organization(session, caller.scope, organization_id)
    )
    await service.delete_organization(session, caller.scope, organization_id)
    await audit.record(
        caller,
        "organization.delete",
        organization_id=before.id,
        target=before.id,
        before=before,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Stores


@router.get("/stores", tags=["stores"])
async def list_stores(
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[StoreOut]:
    """Stores you can see (store managers: the stores assigned to them)."""
    result = await service.list_stores(session, caller.scope, page, organization_id=organization_id)
    return page_of(result, StoreOut)


@router.post("/stores", status_code=status.HTTP_201_CREATED, tags=["stores"])
async def create_store(
    body: StoreCreate, caller: OrgAdminDep, session: SessionDep, audit: AuditDep
) -> Envelope[StoreOut]:
    store = StoreOut.model_validate(await service.create_store(session, caller, body))
    await audit.record(
        caller,
        "store.create",
        organization_id=store.organization_id,
        store_id=store.id,
        target=store.id,
        after=store,
    )
    return envelope(store)


@router.get("/stores/{store_id}", tags=["stores"])
async def get_store(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[StoreOut]:
    store = await service.get_store(session, caller.scope, store_id)
    return envelope(StoreOut.model_validate(store))


@router.patch("/stores/{store_id}", tags=["stores"])
async def update_store(
    store_id: uuid.UUID,
    body: StoreUpdate,
    caller: OrgAdminDep,
    session: SessionDep,
    audit: AuditDep,
) -> Envelope[StoreOut]:
    before = StoreOut.model_validate(await service.get_store(session, caller.scope, store_id))
    after = StoreOut.model_validate(
        await service.update_store(session, caller.scope, store_id, body)
    )
    await audit.record(
        caller,
        "store.update",
        organization_id=after.organization_id,
        store_id=after.id,
        target=after.id,
        before=before,
        after=after,
    )
    return envelope(after)


@router.delete("/stores/{store_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["stores"])
async def delete_store(
    store_id: uuid.UUID, caller: OrgAdminDep, session: SessionDep, audit: AuditDep
) -> Response:
    """Delete a store that has no kiosks left."""
    before = StoreOut.model_validate(await service.get_store(session, caller.scope, store_id))
    await service.delete_store(session, caller.scope, store_id)
    await audit.record(
        caller,
        "store.delete",
        organization_id=before.organization_id,
        store_id=before.id,
        target=before.id,
        before=before,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/stores/{store_id}/kiosks", tags=["kiosks"])
async def list_store_kiosks(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, page: PageDep, hub: HubDep
) -> Page[KioskOut]:
    """A store's kiosks: connected to `/cable` now or not, last seen, app version and health."""
    store = await service.get_store(session, caller.scope, store_id)
    result = await service.list_kiosks(session, caller.scope, page, store_id=store.id)
    return await with_presence(hub, page_of(result, KioskOut))


# Kiosks


@router.get("/kiosks", tags=["kiosks"])
async def list_kiosks(
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    hub: HubDep,
    store_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[KioskOut]:
    result = await service.list_kiosks(session, caller.scope, page, store_id=store_id)
    return await with_presence(hub, page_of(result, KioskOut))


@router.post("/kiosks", status_code=status.HTTP_201_CREATED, tags=["kiosks"])
async def create_kiosk(
    body: KioskCreate, caller: StoreManagerDep, session: SessionDep, audit: AuditDep
) -> Envelope[KioskOut]:
    """Register a kiosk in a store; then issue it an API key with `POST /kiosks/{id}/keys`."""
    kiosk = KioskOut.model_validate(await service.create_kiosk(session, caller.scope, body))
    await audit.record_kiosk(caller, "kiosk.create", kiosk, after=kiosk)
    return envelope(kiosk)


@router.get("/kiosks/me", tags=["kiosks"])
async def get_own_kiosk(kiosk: KioskDep, session: SessionDep) -> Envelope[KioskOut]:
    """The calling kiosk itself (authenticate with its API key)."""
    found = await service.get_kiosk(session, kiosk.scope, kiosk.kiosk_id)
    return envelope(KioskOut.model_validate(found))


@router.get("/kiosks/{kiosk_id}", tags=["kiosks"])
async def get_kiosk(
    kiosk_id: uuid.UUID, caller: ViewerDep, session: SessionDep, hub: HubDep
) -> Envelope[KioskOut]:
    kiosk = await service.get_kiosk(session, caller.scope, kiosk_id)
    [found] = await annotate_presence(hub, [KioskOut.model_validate(kiosk)])
    return envelope(found)


@router.patch("/kiosks/{kiosk_id}", tags=["kiosks"])
async def update_kiosk(
    kiosk_id: uuid.UUID,
    body: KioskUpdate,
    caller: StoreManagerDep,
    session: SessionDep,
    hub: HubDep,
    after_commit: AfterCommitDep,
    audit: AuditDep,
) -> Envelope[KioskOut]:
    """Rename a kiosk, or disable it (its API keys stop working at once) and enable it again."""
    before = KioskOut.model_validate(await service.get_kiosk(session, caller.scope, kiosk_id))
    kiosk = await service.update_kiosk(session, caller.scope, kiosk_id, body)
    after = KioskOut.model_validate(kiosk)
    await audit.record_kiosk(caller, "kiosk.update", after, before=before, after=after)
    if kiosk.status is KioskStatus.DISABLED:
        # Its keys no longer work; its open connections close too (no reconnect), once the
        # change is committed: a kiosk told to go must not find itself enabled after a rollback.
        after_commit(functools.partial(hub.disconnect_kiosk, kiosk.id, reconnect=False))
    return envelope(after)


@router.delete("/kiosks/{kiosk_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["kiosks"])
async def delete_kiosk(
    kiosk_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    hub: HubDep,
    after_commit: AfterCommitDep,
    audit: AuditDep,
) -> Response:
    """Delete a kiosk and its API keys; its open connections close (no reconnect)."""
    before = KioskOut.model_validate(await service.get_kiosk(session, caller.scope, kiosk_id))
    await service.delete_kiosk(session, caller.scope, kiosk_id)
    # Its keys are gone: once this is committed, every process forgets them and closes the
    # sockets they opened (a kiosk that is no more must not stay subscribed to its store).
    after_commit(functools.partial(hub.disconnect_kiosk, kiosk_id, reconnect=False))
    await audit.record_kiosk(caller, "kiosk.delete", before, before=before)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
