"""Rules of the kiosk catalog: what a kiosk may see, its freshness, and what changed since.
Services flush, never commit."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest
from ridgeline.catalog import repository
from ridgeline.catalog.listing import CatalogFilters, catalog_item, matches, page_of_items
from ridgeline.catalog.schemas import (
    CatalogChange,
    CatalogPage,
    CatalogPageMeta,
    CatalogStatus,
    ChangesMeta,
    ChangesPage,
    KioskProduct,
    StreamPositionOut,
)
from ridgeline.catalog.views import is_visible, kiosk_view
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import CatalogResyncRequired, NotFound, ValidationFailed
from ridgeline.models.catalog import Product
from ridgeline.realtime import streams
from ridgeline.realtime.streams import HistoryUnavailable, StreamPosition

CATALOG_EVENT_TYPES = frozenset(
    {
        "product.created",
        "product.updated",
        "product.deactivated",
        "inventory.changed",
        "catalog.resync",
    }
)
MAX_CHANGES = 1000


# Kiosk catalog


async def catalog_status(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, now: datetime
) -> CatalogStatus:
    """Freshness and stream position. Read *before* the products: a change committed between
    the two reads is then also replayed by `changes` (applying it twice is harmless)."""
    position = await streams.position(session, streams.store_stream(store_id))
    state = await repository.sync_state(session, scope, store_id)
    last = state.last_success_at if state is not None else None
    stale = state is None or last is None or (now - last).total_seconds() > state.stale_after_s
    return CatalogStatus(last_synced_at=last, stale=stale, position=_position_out(position))


async def catalog_page(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    filters: CatalogFilters,
    page: PageRequest,
    *,
    now: datetime,
) -> CatalogPage:
    status = await catalog_status(session, scope, store_id, now=now)
    statement = repository.products(
        scope,
        store_id,
        active_only=True,
        category=filters.category,
        brand=filters.brand,
        strain_type=filters.strain_type,
    )
    products = list((await session.scalars(statement)).all())
    variants = await repository.variants_by_product(session, scope, store_id)
    enrichments = await repository.enrichments_by_product(session, scope, store_id)
    items = []
    for product in products:
        enrichment = enrichments.get(product.id)
        if not is_visible(product, enrichment):
            continue
        view = kiosk_view(product, variants.get(product.id, []), enrichment)
        if matches(view, filters):
            items.append(catalog_item(product, view))
    views, next_cursor = page_of_items(items, filters.sort, limit=page.limit, cursor=page.cursor)
    return CatalogPage(
        data=views,
        meta=CatalogPageMeta(next_cursor=next_cursor, count=len(views), catalog=status),
    )


async def kiosk_product(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, product_id: uuid.UUID
) -> KioskProduct:
    """A visible product of the store; 404 for anything else (another store's, hidden, inactive)."""
    product = await repository.product(session, scope, store_id, product_id)
    enrichment = (
        await repository.enrichment(session, scope, store_id, product_id) if product else None
    )
    if product is None or not is_visible(product, enrichment):
        raise NotFound("product", product_id)
    variants = await repository.variants_by_product(session, scope, store_id, [product.id])
    return kiosk_view(product, variants.get(product.id, []), enrichment)


async def kiosk_product_by_tag(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, tag: str
) -> KioskProduct:
    found = await repository.rfid_tag(session, scope, store_id, tag)
    if found is None:
        raise NotFound("rfid_tag", tag)
    try:
        return await kiosk_product(session, scope, store_id, found.product_id)
    except NotFound:
        raise NotFound("product") from None


# Changes


def encode_position(epoch: str, offset: int) -> str:
    raw = json.dumps({"e": epoch, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str) -> tuple[str, int]:
    try:
        decoded: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        decoded = None
    if (
        isinstance(decoded, dict)
        and set(decoded) == {"e", "o"}
        and isinstance(decoded["e"], str)
        and 0 < len(decoded["e"]) <= 32
        and type(decoded["o"]) is int
        and 0 <= decoded["o"] < 2**62
    ):
        return decoded["e"], decoded["o"]
    raise ValidationFailed.for_fields(
        [{"loc": ["query", "since"], "message": "Invalid cursor.", "type": "cursor"}]
    )


def _position_out(position: StreamPosition) -> StreamPositionOut:
    return StreamPositionOut(
        stream_id=position.stream_id,
        epoch=position.epoch,
        offset=position.offset,
        cursor=encode_position(position.epoch, position.offset),
    )


def _product_id_of(message_type: str, data: dict[str, Any]) -> str | None:
    if message_type == "inventory.changed":
        value = data.get("product_id")
    elif message_type.startswith("product."):
        value = data.get("id")
    else:
        return None
    return value if isinstance(value, str) else None


async def changes(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, since: str, *, limit: int
) -> ChangesPage:
    """The catalog events after `since`, oldest first. Events about products that are now
    hidden or inactive are left out, except `product.deactivated` (the kiosk drops them).
    `CatalogResyncRequired` when the stream cannot replay from there: reload the catalog."""
    epoch, offset = decode_position(since)
    stream_id = streams.store_stream(store_id)
    try:
        entries = await streams.read_since(
            session, stream_id, epoch=epoch, offset=offset, limit=limit
        )
    except HistoryUnavailable as exc:
        raise CatalogResyncRequired(details={"reason": exc.reason}) from None
    catalog_entries = [e for e in entries if e.message.get("type") in CATALOG_EVENT_TYPES]
    referenced: set[uuid.UUID] = set()
    for entry in catalog_entries:
        product_id = _product_id_of(str(entry.message["type"]), dict(entry.message["data"]))
        if product_id is not None:
            try:
                referenced.add(uuid.UUID(product_id))
            except ValueError:
                continue
    visible = await _visible_ids(session, scope, store_id, referenced)
    kept = []
    for entry in catalog_entries:
        message_type = str(entry.message["type"])
        data = dict(entry.message["data"])
        product_id = _product_id_of(message_type, data)
        if (
            product_id is not None
            and message_type != "product.deactivated"
            and product_id not in visible
        ):
            continue
        kept.append(
            CatalogChange(
                type=message_type, data=data, at=str(entry.message["at"]), offset=entry.offset
            )
        )
    last_offset = entries[-1].offset if entries else offset
    return ChangesPage(
        data=kept,
        meta=ChangesMeta(
            cursor=encode_position(epoch, last_offset),
            count=len(kept),
            has_more=len(entries) == limit,
        ),
    )


async def _visible_ids(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, ids: set[uuid.UUID]
) -> set[str]:
    if not ids:
        return set()
    statement = repository.products(scope, store_id, active_only=True).where(
        Product.id.in_(list(ids))
    )
    products = list((await session.scalars(statement)).all())
    enrichments = await repository.enrichments_by_product(
        session, scope, store_id, [p.id for p in products]
    )
    return {str(p.id) for p in products if is_visible(p, enrichments.get(p.id))}
