"""Filtering, sorting and cursor paging of a store's kiosk catalog, and the per-store index that
makes them cheap.

A store can carry 20,000 products. Its `CatalogIndex` holds one small `ListingEntry` per visible
product (what filters and sorts read, precomputed) and each sort's order, built once and then
brought on from the products each catalog change names (`CatalogIndex.replaced`, a binary search
per sort), kept by `CatalogIndexCache`; `service.catalog_page` walks it and builds kiosk views
for the page only. Filtering and sorting stay in Python, over the same values the kiosk view
shows, so search covers the *merged* tags (POS and enrichment) and every sort order is identical
on SQLite and PostgreSQL. See docs/catalog.md ("How a list is served").

Cursors encode the sort, the last item's sort key and its id, so a page starts strictly after
the last item shown whatever was inserted meanwhile: no duplicates, no gaps for items that did
not change between pages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import itertools
import json
import sys
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ridgeline.catalog.schemas import CatalogSort, KioskProduct
from ridgeline.errors import ValidationFailed

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sorts products without any variant after every priced product.
_NO_PRICE = 2**62

SortKey = tuple[int | str, ...]
# Where an item is in a sort: its sort key, then its id (unique, so the order is total).
OrderKey = tuple[SortKey, str]

# The types of each sort's key, checked when a cursor comes back.
_KEY_TYPES: dict[CatalogSort, tuple[type, ...]] = {
    CatalogSort.FEATURED: (int, int, str),
    CatalogSort.NAME: (str,),
    CatalogSort.PRICE_ASC: (int,),
    CatalogSort.PRICE_DESC: (int,),
    CatalogSort.NEWEST: (int,),
}


@dataclass(frozen=True, slots=True)
class CatalogFilters:
    category: str | None = None
    brand: str | None = None
    strain_type: str | None = None
    in_stock: bool | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    q: str | None = None
    sort: CatalogSort = CatalogSort.FEATURED


@dataclass(frozen=True, slots=True)
class ListingEntry:
    """What filtering and sorting need of one visible product's kiosk view, precomputed."""

    id: uuid.UUID
    id_text: str
    category: str
    strain_type: str | None
    in_stock: bool
    prices: tuple[int, ...]
    # name, brand and every merged tag, casefolded and joined by NUL (which `q` cannot hold):
    # what `q` searches, with one `in` per entry.
    search_text: str
    featured: bool
    sort_order: int
    name_key: str
    created_us: int

    @classmethod
    def of(
        cls,
        *,
        product_id: uuid.UUID,
        name: str,
        brand: str,
        category: str,
        strain_type: str | None,
        merged_tags: Sequence[str],
        featured: bool,
        sort_order: int,
        prices: Sequence[int],
        in_stock: bool,
        created_at: datetime,
    ) -> ListingEntry:
        name_key = name.casefold()
        return cls(
            id=product_id,
            id_text=str(product_id),
            # A store has a few categories and strains: one string each, not one per product.
            category=sys.intern(str(category)),
            strain_type=None if strain_type is None else sys.intern(str(strain_type)),
            in_stock=in_stock,
            prices=tuple(prices),
            search_text="\x00".join(
                [name_key, *(text.casefold() for text in (brand, *merged_tags))]
            ),
            featured=featured,
            sort_order=sort_order,
            name_key=name_key,
            created_us=(created_at - _EPOCH) // timedelta(microseconds=1),
        )


def entry_of_view(view: KioskProduct, created_at: datetime) -> ListingEntry:
    return ListingEntry.of(
        product_id=view.id,
        name=view.name,
        brand=view.brand,
        category=view.category,
        strain_type=view.strain_type,
        merged_tags=view.tags,
        featured=view.featured,
        sort_order=view.sort_order,
        prices=[v.price_cents for v in view.variants],
        in_stock=view.in_stock,
        created_at=created_at,
    )


def matcher(filters: CatalogFilters) -> Callable[[ListingEntry], bool]:
    """Whether an entry passes the category, strain, stock, price range and text filters (brand
    is SQL's: see `service.catalog_page`), as one predicate holding only the checks the filters
    ask for: a page with `q` may test a thousand entries of the index to find its 51."""
    checks: list[Callable[[ListingEntry], bool]] = []
    category, strain_type, in_stock = filters.category, filters.strain_type, filters.in_stock
    if category is not None:
        checks.append(lambda entry: entry.category == category)
    if strain_type is not None:
        checks.append(lambda entry: entry.strain_type == strain_type)
    if in_stock is not None:
        checks.append(lambda entry: entry.in_stock == in_stock)
    if filters.min_price_cents is not None or filters.max_price_cents is not None:
        low = filters.min_price_cents if filters.min_price_cents is not None else -1
        high = filters.max_price_cents if filters.max_price_cents is not None else _NO_PRICE
        checks.append(lambda entry: any(low <= price <= high for price in entry.prices))
    if filters.q:
        # TEXT_PATTERN keeps NUL out of `q`: it never matches across two of the texts.
        needle = filters.q.casefold()
        checks.append(lambda entry: needle in entry.search_text)
    if not checks:
        return lambda entry: True
    if len(checks) == 1:
        return checks[0]
    return lambda entry: all(check(entry) for check in checks)


def sort_key(entry: ListingEntry, sort: CatalogSort) -> SortKey:
    """The key a sort orders by (the id breaks ties). Prices sort by a product's lowest
    variant price ("from $x"); products without variants come last."""
    if sort is CatalogSort.FEATURED:
        return (0 if entry.featured else 1, entry.sort_order, entry.name_key)
    if sort is CatalogSort.NAME:
        return (entry.name_key,)
    price = min(entry.prices, default=None)
    if sort is CatalogSort.PRICE_ASC:
        return (_NO_PRICE if price is None else price,)
    if sort is CatalogSort.PRICE_DESC:
        return (1 if price is None else -price,)
    return (-entry.created_us,)


def order_key(entry: ListingEntry, sort: CatalogSort) -> OrderKey:
    """Where the entry is in `sort`: its sort key, then its id (unique: the order is total)."""
    return sort_key(entry, sort), entry.id_text


def encode_cursor(sort: CatalogSort, key: SortKey, item_id: uuid.UUID) -> str:
    raw = json.dumps({"s": sort.value, "k": list(key), "id": str(item_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _invalid_cursor(reason: str) -> ValidationFailed:
    return ValidationFailed.for_fields(
        [{"loc": ["query", "cursor"], "message": f"Invalid cursor: {reason}.", "type": "cursor"}]
    )


def decode_cursor(cursor: str, sort: CatalogSort) -> tuple[SortKey, str]:
    """The (sort key, id) a cursor continues after; 422 if it is not one we issued for `sort`."""
    try:
        decoded: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise _invalid_cursor("not readable") from exc
    if not isinstance(decoded, dict) or set(decoded) != {"s", "k", "id"}:
        raise _invalid_cursor("not readable")
    if decoded["s"] != sort.value:
        raise _invalid_cursor("issued for another sort")
    key, item_id = decoded["k"], decoded["id"]
    types = _KEY_TYPES[sort]
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or any(type(part) is not kind for part, kind in zip(key, types, strict=True))
    ):
        raise _invalid_cursor("not readable")
    try:
        ident = str(uuid.UUID(item_id)) if isinstance(item_id, str) else None
    except ValueError:
        ident = None
    if ident is None:
        raise _invalid_cursor("not readable")
    return tuple(key), ident


class CatalogIndex:
    """The filterable, sortable entries of a store's visible catalog at one version, each sort
    order built on first use (only the entries in order: keys are recomputed where needed).

    An index is never changed once a request may be walking it: `replaced` returns a new index
    (copy on write), so a request that awaits between two batches of a page keeps a consistent
    order while another request moves the store's index on."""

    def __init__(self, entries: Iterable[ListingEntry]) -> None:
        self._by_id: dict[uuid.UUID, ListingEntry] = {entry.id: entry for entry in entries}
        self._orders: dict[CatalogSort, list[ListingEntry]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def entries(self) -> list[ListingEntry]:
        return list(self._by_id.values())

    def _order(self, sort: CatalogSort) -> list[ListingEntry]:
        order = self._orders.get(sort)
        if order is None:
            order = sorted(self._by_id.values(), key=lambda entry: order_key(entry, sort))
            self._orders[sort] = order
        return order

    def replaced(
        self, product_ids: Collection[uuid.UUID], entries: Iterable[ListingEntry]
    ) -> CatalogIndex:
        """A new index where the products `product_ids` are what `entries` says now: an entry
        for each of them that is visible, none for the others (hidden, inactive, deleted). Each
        sort order already built is kept in order by binary search (remove the old entry, insert
        the new one), never sorted again; this index is left as it was."""
        fresh = {entry.id: entry for entry in entries}
        by_id = dict(self._by_id)
        dropped = [by_id.pop(product_id) for product_id in product_ids if product_id in by_id]
        by_id.update(fresh)
        updated = CatalogIndex(())
        updated._by_id = by_id
        for sort, order in self._orders.items():
            changed = list(order)
            for entry in dropped:
                at = bisect.bisect_left(
                    changed, order_key(entry, sort), key=lambda e: order_key(e, sort)
                )
                # The order holds this very entry (same key, unique id): it sits at `at`.
                if at < len(changed) and changed[at] is entry:
                    del changed[at]
                else:  # pragma: no cover - only if an entry's key could change in place
                    changed.remove(entry)
            for entry in fresh.values():
                bisect.insort(changed, entry, key=lambda e: order_key(e, sort))
            updated._orders[sort] = changed
        return updated

    def after(self, sort: CatalogSort, cursor: str | None) -> Iterator[ListingEntry]:
        """The entries in `sort` order strictly after `cursor` (all of them without one); 422
        for a cursor we did not issue for `sort`."""
        entries = self._order(sort)
        start = 0
        if cursor is not None:
            after = decode_cursor(cursor, sort)
            start = bisect.bisect_right(entries, after, key=lambda e: order_key(e, sort))
        return itertools.islice(entries, start, None)


@dataclass(frozen=True, slots=True)
class RunningSync:
    """A running sync run of the store, as a catalog version sees it."""

    kind: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    """What a store's index is up to date with: the store stream's epoch and offset (every
    catalog event up to `offset` is in it), and the store's running sync runs (a run's batches
    that commit without events move its heartbeat; see `service.catalog_page`)."""

    epoch: str
    offset: int
    syncs: frozenset[RunningSync] = frozenset()


# Given the version a store's index is at, the index, and the version a request read: the index
# at (at least) the request's version and the version to keep it under, or None to rebuild.
Advance = Callable[
    [CatalogVersion, CatalogIndex, CatalogVersion],
    Awaitable[tuple[CatalogVersion, CatalogIndex] | None],
]


@dataclass(slots=True)
class _Cached:
    version: CatalogVersion
    index: CatalogIndex


class CatalogIndexCache:
    """Each store's latest `CatalogIndex` and its `CatalogVersion`, least recently used stores
    dropped beyond `max_products` entries in all. A request that reads a version the index is not
    at asks `advance` to bring the index there (the catalog events since, applied in place), and
    builds it afresh only when that cannot be done. Versions are what the database says, never
    what this process saw, so any process's index is right for the version it is kept under."""

    def __init__(self, max_products: int = 100_000) -> None:
        self.max_products = max_products
        self._stores: OrderedDict[uuid.UUID, _Cached] = OrderedDict()
        self._building: weakref.WeakValueDictionary[uuid.UUID, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.hits = 0
        self.misses = 0  # full builds
        self.advances = 0  # brought to a newer version without a build

    def __len__(self) -> int:
        return len(self._stores)

    @property
    def size(self) -> int:
        """The entries held, over all stores."""
        return sum(len(cached.index) for cached in self._stores.values())

    def _get(self, store_id: uuid.UUID, version: CatalogVersion) -> CatalogIndex | None:
        cached = self._stores.get(store_id)
        if cached is None or cached.version != version:
            return None
        self._stores.move_to_end(store_id)
        return cached.index

    def _put(self, store_id: uuid.UUID, version: CatalogVersion, index: CatalogIndex) -> None:
        self._stores[store_id] = _Cached(version, index)
        self._stores.move_to_end(store_id)
        total = self.size
        while total > self.max_products and len(self._stores) > 1:
            _, dropped = self._stores.popitem(last=False)
            total -= len(dropped.index)

    async def index(
        self,
        store_id: uuid.UUID,
        version: CatalogVersion,
        build: Callable[[], Awaitable[CatalogIndex]],
        advance: Advance | None = None,
    ) -> CatalogIndex:
        """The store's index at `version` (or newer), brought there by `advance` from the index
        held or built by `build`; concurrent requests of a store wait for one of them instead of
        each reading the catalog."""
        found = self._get(store_id, version)
        if found is not None:
            self.hits += 1
            return found
        lock = self._building.get(store_id)
        if lock is None:
            lock = self._building[store_id] = asyncio.Lock()
        async with lock:
            held = self._stores.get(store_id)
            if held is not None and held.version == version:
                self.hits += 1
                self._stores.move_to_end(store_id)
                return held.index
            if held is not None and advance is not None:
                moved = await advance(held.version, held.index, version)
                if moved is not None:
                    if moved[1] is held.index:
                        self.hits += 1
                    else:
                        self.advances += 1
                    self._put(store_id, *moved)
                    return moved[1]
            self.misses += 1
            # Read after `version` was: at least as new as it, and newer than what was held.
            index = await build()
            self._put(store_id, version, index)
            return index
