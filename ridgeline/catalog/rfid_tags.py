"""Operator rules of RFID tags: which product of the store each tag points at (kiosks look a
scanned tag up through `service.kiosk_product_by_tag`). Services flush, never commit."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, page_of, paginate
from ridgeline.api.schemas import Page
from ridgeline.catalog import repository
from ridgeline.catalog.enrichment import store_product
from ridgeline.catalog.schemas import RfidTagOut
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models.catalog import RfidTag
from ridgeline.stores import service as stores_service


async def list_rfid_tags(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    page: PageRequest,
    *,
    product_id: uuid.UUID | None = None,
) -> Page[RfidTagOut]:
    store = await stores_service.get_store(session, scope, store_id)
    result = await paginate(
        session, repository.rfid_tags(scope, store.id, product_id=product_id), RfidTag, page
    )
    return page_of(result, RfidTagOut)


async def put_rfid_tag(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    tag: str,
    product_id: uuid.UUID,
) -> tuple[RfidTag, bool]:
    """Point `tag` at a product of the same store; returns the mapping and whether it is new."""
    product = await store_product(session, scope, store_id, product_id)
    found = await repository.rfid_tag(session, scope, product.store_id, tag)
    created = found is None
    if found is None:
        found = RfidTag(
            organization_id=product.organization_id,
            store_id=product.store_id,
            tag=tag,
            product_id=product.id,
        )
        session.add(found)
    else:
        found.product_id = product.id
    await session.flush()
    await session.refresh(found)
    return found, created


async def find_rfid_tag(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, tag: str
) -> RfidTag | None:
    """The tag's mapping in a store the caller may see, or None if the tag is not mapped."""
    store = await stores_service.get_store(session, scope, store_id)
    return await repository.rfid_tag(session, scope, store.id, tag)


async def delete_rfid_tag(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, tag: str
) -> None:
    store = await stores_service.get_store(session, scope, store_id)
    found = await repository.rfid_tag(session, scope, store.id, tag)
    if found is None:
        raise NotFound("rfid_tag", tag)
    await session.delete(found)
    await session.flush()
