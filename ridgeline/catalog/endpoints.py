"""HTTP surface of the catalog: what kiosks browse (`/catalog...`, kiosk API keys) and what
operators manage (`/stores/{store_id}/products...`, `/stores/{store_id}/rfid-tags...`)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel

from ridgeline.api.dependencies import AuditDep, CatalogIndexesDep, ClockDep, SessionDep
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, Page, envelope
from ridgeline.auth.dependencies import KioskDep, StoreManagerDep, ViewerDep
from ridgeline.catalog import enrichment, rfid_tags, service
from ridgeline.catalog.listing import CatalogFilters
from ridgeline.catalog.schemas import (
    TAG_MAX,
    TAG_PATTERN,
    TEXT_PATTERN,
    CatalogPage,
    CatalogSort,
    Category,
    ChangesPage,
    EnrichmentPatch,
    KioskProduct,
    OperatorProduct,
    RfidTagOut,
    RfidTagPut,
    StrainType,
)

router = APIRouter(prefix="/api/v1")

TagPath = Annotated[
    str, Path(pattern=TAG_PATTERN, max_length=TAG_MAX, description="The RFID tag's id.")
]
SearchText = Annotated[str | None, Query(min_length=1, max_length=100, pattern=TEXT_PATTERN)]
Brand = Annotated[str | None, Query(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
Cents = Annotated[int | None, Query(ge=0, le=100_000_000)]


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    # If-None-Match compares weakly (RFC 9110 13.1.2): a W/ prefix does not matter.
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates


def _etag_response(request: Request, model: BaseModel) -> Response:
    """`model` as JSON with a strong ETag over its exact bytes; 304 without a body when the
    client's `If-None-Match` already names it."""
    body = model.model_dump_json().encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


# Kiosks


@router.get("/catalog", tags=["catalog"], response_model=CatalogPage)
async def browse_catalog(
    request: Request,
    kiosk: KioskDep,
    session: SessionDep,
    clock: ClockDep,
    indexes: CatalogIndexesDep,
    page: PageDep,
    category: Annotated[Category | None, Query()] = None,
    brand: Brand = None,
    strain_type: Annotated[StrainType | None, Query()] = None,
    in_stock: Annotated[bool | None, Query()] = None,
    min_price_cents: Cents = None,
    max_price_cents: Cents = None,
    q: SearchText = None,
    sort: Annotated[CatalogSort, Query()] = CatalogSort.FEATURED,
) -> Response:
    """The kiosk's store catalog: active products not hidden by an operator, with enrichment
    merged. `q` searches name, brand and tags (case-insensitive); the price filters keep
    products with any variant in range. `meta.catalog` says how fresh the catalog is and the
    stream position to pass to `/catalog/changes`. Send `If-None-Match` with the last `ETag`
    to get a 304 when nothing changed (the ETag follows the catalog's version: see
    docs/catalog.md, "ETags")."""
    filters = CatalogFilters(
        category=category.value if category else None,
        brand=brand,
        strain_type=strain_type.value if strain_type else None,
        in_stock=in_stock,
        min_price_cents=min_price_cents,
        max_price_cents=max_price_cents,
        q=q,
        sort=sort,
    )
    freshness, version = await service.catalog_status(
        session, kiosk.scope, kiosk.store_id, now=clock.now()
    )
    etag = service.catalog_etag(freshness, version, filters, page)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    result = await service.catalog_page(
        session,
        kiosk.scope,
        kiosk.store_id,
        filters,
        page,
        status=freshness,
        version=version,
        indexes=indexes,
    )
    return Response(
        content=result.model_dump_json().encode(), media_type="application/json", headers=headers
    )


@router.get("/catalog/changes", tags=["catalog"], response_model=ChangesPage)
async def catalog_changes(
    kiosk: KioskDep,
    session: SessionDep,
    since: Annotated[str, Query(min_length=1, max_length=200, pattern=TEXT_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=service.MAX_CHANGES)] = 500,
) -> ChangesPage:
    """What changed in the kiosk's catalog after `since` (a `meta.catalog.position.cursor` or
    the `meta.cursor` of the previous call): product views to upsert, products to drop
    (`product.deactivated`), stock changes, and `catalog.resync` (reload everything). A 410
    `CATALOG_RESYNC_REQUIRED` means the history is gone: reload `GET /catalog`."""
    return await service.changes(session, kiosk.scope, kiosk.store_id, since, limit=limit)


@router.get(
    "/catalog/products/{product_id}", tags=["catalog"], response_model=Envelope[KioskProduct]
)
async def get_catalog_product(
    request: Request, product_id: uuid.UUID, kiosk: KioskDep, session: SessionDep
) -> Response:
    """One product of the kiosk's store (404 if hidden or inactive); ETag as for the list."""
    product = await service.kiosk_product(session, kiosk.scope, kiosk.store_id, product_id)
    return _etag_response(request, envelope(product))


@router.get("/catalog/rfid/{tag}", tags=["catalog"], response_model=Envelope[KioskProduct])
async def get_catalog_product_by_tag(
    request: Request, tag: TagPath, kiosk: KioskDep, session: SessionDep
) -> Response:
    """The product an RFID tag points at (lift-and-learn); 404 for an unknown tag or a product
    kiosks may not show."""
    product = await service.kiosk_product_by_tag(session, kiosk.scope, kiosk.store_id, tag)
    return _etag_response(request, envelope(product))


# Operators


@router.get("/stores/{store_id}/products", tags=["catalog"])
async def list_store_products(
    store_id: uuid.UUID,
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    category: Annotated[Category | None, Query()] = None,
    brand: Brand = None,
    strain_type: Annotated[StrainType | None, Query()] = None,
    is_active: Annotated[bool | None, Query()] = None,
    hidden: Annotated[bool | None, Query()] = None,
    q: SearchText = None,
) -> Page[OperatorProduct]:
    """Every product of the store, hidden and inactive included, with its enrichment apart
    (in creation order). `q` searches name and brand."""
    return await enrichment.list_products(
        session,
        caller.scope,
        store_id,
        page,
        category=category.value if category else None,
        brand=brand,
        strain_type=strain_type.value if strain_type else None,
        is_active=is_active,
        hidden=hidden,
        q=q,
    )


@router.get("/stores/{store_id}/products/{product_id}", tags=["catalog"])
async def get_store_product(
    store_id: uuid.UUID, product_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[OperatorProduct]:
    product = await enrichment.get_product(session, caller.scope, store_id, product_id)
    return envelope(product)


@router.patch("/stores/{store_id}/products/{product_id}/enrichment", tags=["catalog"])
async def update_product_enrichment(
    store_id: uuid.UUID,
    product_id: uuid.UUID,
    body: EnrichmentPatch,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[OperatorProduct]:
    """Change what operators add to a product (description, images, tags, hidden, featured,
    sort_order); POS syncs never overwrite it. Kiosks hear of it at once on the store stream."""
    before = await enrichment.get_product(session, caller.scope, store_id, product_id)
    product = await enrichment.update_enrichment(
        session, caller.scope, store_id, product_id, body, now=clock.now()
    )
    await audit.record(
        caller,
        "product.enrichment.update",
        store_id=store_id,
        target=product_id,
        # Only the enrichment: the rest of the product is the POS's, and unchanged.
        before=before.enrichment,
        after=product.enrichment,
    )
    return envelope(product)


@router.get("/stores/{store_id}/rfid-tags", tags=["catalog"])
async def list_rfid_tags(
    store_id: uuid.UUID,
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    product_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[RfidTagOut]:
    """The store's RFID tags and the products they point at."""
    return await rfid_tags.list_rfid_tags(
        session, caller.scope, store_id, page, product_id=product_id
    )


@router.put("/stores/{store_id}/rfid-tags/{tag}", tags=["catalog"])
async def put_rfid_tag(
    store_id: uuid.UUID,
    tag: TagPath,
    body: RfidTagPut,
    caller: StoreManagerDep,
    session: SessionDep,
    response: Response,
    audit: AuditDep,
) -> Envelope[RfidTagOut]:
    """Point a tag at a product of the store (201 when the tag is new, 200 when re-pointed)."""
    existing = await rfid_tags.find_rfid_tag(session, caller.scope, store_id, tag)
    before = None if existing is None else RfidTagOut.model_validate(existing)
    found, created = await rfid_tags.put_rfid_tag(
        session, caller.scope, store_id, tag, body.product_id
    )
    after = RfidTagOut.model_validate(found)
    await audit.record(
        caller, "rfid_tag.put", store_id=after.store_id, target=tag, before=before, after=after
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return envelope(after)


@router.delete(
    "/stores/{store_id}/rfid-tags/{tag}", status_code=status.HTTP_204_NO_CONTENT, tags=["catalog"]
)
async def delete_rfid_tag(
    store_id: uuid.UUID, tag: TagPath, caller: StoreManagerDep, session: SessionDep, audit: AuditDep
) -> Response:
    existing = await rfid_tags.find_rfid_tag(session, caller.scope, store_id, tag)
    await rfid_tags.delete_rfid_tag(session, caller.scope, store_id, tag)
    await audit.record(
        caller,
        "rfid_tag.delete",
        store_id=store_id,
        target=tag,
        before=None if existing is None else RfidTagOut.model_validate(existing),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
