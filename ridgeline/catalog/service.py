"""Rules of the kiosk catalog: what a kiosk may see, its freshness, and what changed since.
Services flush, never commit."""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest
from ridgeline.catalog import repository
from ridgeline.catalog.listing import (
    CatalogFilters,
    CatalogIndex,
    CatalogIndexCache,
    CatalogVersion,
    ListingEntry,
    OrderKey,
    RunningSync,
    encode_cursor,
    entry_of_view,
    matcher,
    order_key,
)
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
from ridgeline.catalog.views import (
    EnrichmentFields,
    ProductFields,
    VariantFields,
    is_visible,
    kiosk_view,
    merged_tags,
)
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import CatalogResyncRequired, NotFound, ValidationFailed
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
# How far an index is brought on from the events since its version; beyond, it is rebuilt.
MAX_APPLIED_EVENTS = 2000
MAX_APPLIED_PRODUCTS = 500
_CATALOG_EVENT_PREFIXES = frozenset({"product", "inventory", "catalog"})
# Changed whenever what a page holds for the same version changes (a new field, a new rule).
_ETAG_FORMAT = "catalog-page/2"


# Kiosk catalog


async def catalog_status(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, now: datetime
) -> tuple[CatalogStatus, CatalogVersion]:
    """Freshness and stream position, and the catalog's version: the store stream position and
    the store's running sync runs, all in one statement (`repository.freshness`). Read *before*
    the products: a change committed between the two reads is then also replayed by `changes`
    (applying it twice is harmless).

    The running runs are in the version because a run of more than `RESYNC_THRESHOLD` changes
    writes its batches without events (one `catalog.resync` ends it), but every batch moves its
    run's heartbeat in the same transaction: this makes each batch show up in the next list even
    before the run ends (or if it never does)."""
    stream_id = streams.store_stream(store_id)
    rows = await repository.freshness(session, scope, store_id, stream_id)
    first = rows[0]
    if first.epoch is None:
        # Nobody wrote to the stream yet: its position is its initial epoch's offset 0.
        position = await streams.position(session, stream_id)
    else:
        position = StreamPosition(stream_id, first.epoch, first.last_offset)
    last = first.last_success_at
    synced = first.stale_after_s is not None
    stale = not synced or last is None or (now - last).total_seconds() > first.stale_after_s
    reason: str | None = None
    if stale:
        # Why, in the words operators see: the store's cause when its POS is away.
        if first.health_cause is not None and first.health_cause != "ok":
            reason = first.health_cause
        else:
            reason = "never_synced" if last is None else "sync_overdue"
    status = CatalogStatus(
        last_synced_at=last,
        stale=stale,
        stale_reason=reason,
        store_state=first.health_state.value if first.health_state is not None else None,
        position=_position_out(position),
    )
    syncs = frozenset(
        RunningSync(str(row.run_kind), _utc(row.run_started_at), _utc(row.run_heartbeat_at))
        for row in rows
        if row.run_kind is not None
    )
    return status, CatalogVersion(position.epoch, position.offset, syncs)


def catalog_etag(
    status: CatalogStatus, version: CatalogVersion, filters: CatalogFilters, page: PageRequest
) -> str:
    """The strong ETag of a catalog page, from what the page is a function of (the catalog's
    version and freshness, the filters, the cursor and the limit) rather than from its bytes: a
    revalidation is answered 304 without the index or a page. Every write kiosks would notice
    moves the version (see docs/catalog.md, "Why the version is right")."""
    syncs = sorted(
        (run.kind, run.started_at.isoformat(), run.heartbeat_at.isoformat())
        for run in version.syncs
    )
    raw = json.dumps(
        [
            _ETAG_FORMAT,
            status.model_dump(mode="json"),
            syncs,
            [getattr(filters, field) for field in filters.__slots__],
            [page.limit, page.cursor],
        ],
        separators=(",", ":"),
        default=str,
    )
    return f'"{hashlib.sha256(raw.encode()).hexdigest()[:32]}"'


async def catalog_page(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    filters: CatalogFilters,
    page: PageRequest,
    *,
    status: CatalogStatus,
    version: CatalogVersion,
    indexes: CatalogIndexCache,
) -> CatalogPage:
    """One page of the kiosk catalog, at `version` (read with `status` by `catalog_status`).
    Which products, in what order, comes from the store's `CatalogIndex`, brought to that version
    from the changed products only (`_advance`) or built once (see `listing.CatalogIndexCache`);
    the page's own products are read fresh, so what a kiosk is shown is never older than the
    database."""
    index = await indexes.index(
        store_id,
        version,
        lambda: _build_index(session, scope, store_id),
        lambda held, held_index, target: _advance(
            session, scope, store_id, held, held_index, target
        ),
    )
    # The brand filter stays SQL's own `lower(brand) = lower(?)`: Python's lower() is not
    # SQLite's (ASCII only) nor PostgreSQL's (the database's locale).
    brand_ids = await _brand_ids(session, scope, store_id, filters.brand)
    accepts = matcher(filters)
    candidates = (
        (order_key(entry, filters.sort), entry)  # only for the entries that match
        for entry in index.after(filters.sort, page.cursor)
        if (brand_ids is None or entry.id in brand_ids) and accepts(entry)
    )
    wanted = page.limit + 1  # one more than the page says whether there is a next one
    shown: list[tuple[OrderKey, KioskProduct]] = []
    while len(shown) < wanted:
        batch = list(itertools.islice(candidates, wanted - len(shown)))
        if not batch:
            break
        shown.extend(await _current_views(session, scope, store_id, filters, batch))
    views = [view for _, view in shown[: page.limit]]
    next_cursor = None
    if len(shown) > page.limit:
        (last_key, _), last = shown[page.limit - 1]
        next_cursor = encode_cursor(filters.sort, last_key, last.id)
    return CatalogPage(
        data=views,
        meta=CatalogPageMeta(next_cursor=next_cursor, count=len(views), catalog=status),
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _build_index(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> CatalogIndex:
    return CatalogIndex(await _entries(session, scope, store_id))


async def _entries(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> list[ListingEntry]:
    """The listing entries of the store's visible products, from the columns filters and sorts
    use (no ORM objects, no kiosk views). Variants and enrichment find their product by the id
    as the driver returns it: a UUID object per variant row is a third of a build on SQLite."""
    products = await repository.index_products(session, scope, store_id)
    variants = await repository.index_variants(session, scope, store_id)
    prices: dict[object, list[int]] = defaultdict(list)
    in_stock: set[object] = set()
    for product_id, price_cents, quantity in variants:
        prices[product_id].append(price_cents)
        if quantity > 0:
            in_stock.add(product_id)
    enrichments = await repository.index_enrichments(session, scope, store_id)
    added = {row.raw_id: row for row in enrichments}
    entries = []
    for row in products:
        extra = added.get(row.raw_id)
        if extra is not None and extra.hidden:
            continue  # the same rule as views.is_visible: active (SQL) and not hidden
        entries.append(
            ListingEntry.of(
                product_id=row.id,
                name=row.name,
                brand=row.brand,
                category=row.category,
                strain_type=row.strain_type,
                merged_tags=merged_tags(list(row.tags), list(extra.tags) if extra else []),
                featured=extra.featured if extra is not None else False,
                sort_order=extra.sort_order if extra is not None else 0,
                prices=prices.get(row.raw_id, ()),
                in_stock=row.raw_id in in_stock,
                created_at=row.created_at,
            )
        )
    return entries


async def _advance(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    held: CatalogVersion,
    index: CatalogIndex,
    target: CatalogVersion,
) -> tuple[CatalogVersion, CatalogIndex] | None:
    """The store's `index` at `held`, brought to `target` from the catalog events in between
    (the products they name are read again and their entries replaced), or None when only a
    build will do: another epoch, history pruned, `catalog.resync`, more than
    `MAX_APPLIED_EVENTS` events or `MAX_APPLIED_PRODUCTS` products, or a running sync whose
    heartbeat moved without a catalog event of the same commit (a batch written without
    events). Other events (`order.status`, `store.status`, ...) change nothing."""
    if held.epoch != target.epoch:
        return None
    if held.syncs - target.syncs:
        # A run ended after this request read the stream position: what it ended with (maybe
        # `catalog.resync`) is after that position, so only a stream that has not moved since
        # says there is nothing to add.
        now = await streams.position(session, streams.store_stream(store_id))
        if (now.epoch, now.offset) != (target.epoch, target.offset):
            return None
    if target.offset <= held.offset:
        # The index is at least as new as what this request read (a slower request).
        if not _syncs_explained(held.syncs, target.syncs, frozenset()):
            return None
        return (held if target.offset < held.offset else target), index
    if target.offset - held.offset > MAX_APPLIED_EVENTS:
        return None
    try:
        entries = await streams.read_since(
            session,
            streams.store_stream(store_id),
            epoch=held.epoch,
            offset=held.offset,
            limit=target.offset - held.offset,
        )
    except HistoryUnavailable:
        return None
    changed: set[uuid.UUID] = set()
    stamps: set[datetime] = set()
    for entry in entries:
        message_type = str(entry.message.get("type"))
        if message_type not in CATALOG_EVENT_TYPES:
            if message_type.split(".", 1)[0] in _CATALOG_EVENT_PREFIXES:
                return None  # a catalog event type this code does not know: be safe
            continue
        product_id = _product_id_of(message_type, dict(entry.message.get("data") or {}))
        try:
            changed.add(uuid.UUID(product_id or ""))
            stamps.add(_utc(datetime.fromisoformat(str(entry.message.get("at")))))
        except ValueError:
            return None  # catalog.resync, or an event we cannot place: rebuild
    if len(changed) > MAX_APPLIED_PRODUCTS:
        return None
    if not _syncs_explained(held.syncs, target.syncs, frozenset(stamps)):
        return None
    if not changed:
        return target, index
    # The changed products' entries as a page reads them (two statements, not the build's three).
    views = await _kiosk_views(session, scope, store_id, list(changed))
    fresh = [entry_of_view(view, created_at) for view, created_at in views.values()]
    return target, index.replaced(changed, fresh)


def _syncs_explained(
    held: frozenset[RunningSync], now: frozenset[RunningSync], stamps: frozenset[datetime]
) -> bool:
    """Whether every running sync whose heartbeat moved since `held` wrote nothing the events
    applied do not cover: a run not seen before that has not written a batch yet (its heartbeat
    is its start), or a heartbeat the time of one of those events (a batch with events commits
    both at the same `now`). A run that ended needs nothing: its changes were events, or it ended
    with `catalog.resync`."""
    return all(
        run.heartbeat_at == run.started_at or run.heartbeat_at in stamps for run in now - held
    )


async def _brand_ids(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, brand: str | None
) -> set[uuid.UUID] | None:
    if brand is None:
        return None
    return await repository.active_product_ids_of_brand(session, scope, store_id, brand)


async def _current_views(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    filters: CatalogFilters,
    batch: list[tuple[OrderKey, ListingEntry]],
) -> list[tuple[OrderKey, KioskProduct]]:
    """The kiosk views of `batch` as the database has them now, in the index's order, each with
    its index key; a product that no longer qualifies (a write that did not reach the store
    stream) is left out rather than shown."""
    found = await _kiosk_views(
        session,
        scope,
        store_id,
        [entry.id for _, entry in batch],
        category=filters.category,
        brand=filters.brand,
        strain_type=filters.strain_type,
    )
    accepts = matcher(filters)
    shown = []
    for key, entry in batch:
        current = found.get(entry.id)
        if current is None:
            continue
        view, created_at = current
        if accepts(entry_of_view(view, created_at)):
            shown.append((key, view))
    return shown


@dataclass(frozen=True, slots=True)
class _PageEnrichment:
    """A product's enrichment as `repository.page_products` reads it (`views.EnrichmentFields`)."""

    description: str | None
    images: list[str]
    tags: list[str]
    hidden: bool
    featured: bool
    sort_order: int


async def _kiosk_views(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    product_ids: list[uuid.UUID],
    *,
    category: str | None = None,
    brand: str | None = None,
    strain_type: str | None = None,
) -> dict[uuid.UUID, tuple[KioskProduct, datetime]]:
    """The kiosk view (and creation time) of each of `product_ids` that is visible and passes
    the filters given, in two reads: the products with their enrichment, then their variants,
    columns only (no ORM objects). `views.kiosk_view` and `views.is_visible` make the view, as
    for every other kiosk view."""
    rows = await repository.page_products(
        session,
        scope,
        store_id,
        product_ids,
        category=category,
        brand=brand,
        strain_type=strain_type,
    )
    products: dict[object, tuple[ProductFields, EnrichmentFields | None, datetime]] = {}
    for row in rows:
        extra = (
            None
            if row.enrichment_product_id is None
            else _PageEnrichment(
                row.enrichment_description,
                row.enrichment_images,
                row.enrichment_tags,
                row.enrichment_hidden,
                row.enrichment_featured,
                row.enrichment_sort_order,
            )
        )
        product = cast(ProductFields, row)
        if is_visible(product, extra):
            products[row.raw_id] = (product, extra, row.created_at)
    variants: dict[object, list[VariantFields]] = defaultdict(list)
    if products:
        shown_ids = [product.id for product, _, _ in products.values()]
        for variant in await repository.page_variants(session, scope, store_id, shown_ids):
            variants[variant.raw_product_id].append(cast(VariantFields, variant))
    return {
        product.id: (kiosk_view(product, variants.get(raw_id, ()), extra), created_at)
        for raw_id, (product, extra, created_at) in products.items()
    }


async def kiosk_product(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, product_id: uuid.UUID
) -> KioskProduct:
    """A visible product of the store; 404 for anything else (another store's, hidden, inactive)."""
    found = await _kiosk_views(session, scope, store_id, [product_id])
    if product_id not in found:
        raise NotFound("product", product_id)
    return found[product_id][0]


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
    products = await repository.active_products(session, scope, store_id, ids)
    enrichments = await repository.enrichments_by_product(
        session, scope, store_id, [p.id for p in products]
    )
    return {str(p.id) for p in products if is_visible(p, enrichments.get(p.id))}
