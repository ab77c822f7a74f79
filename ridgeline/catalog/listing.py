"""Filtering, sorting and cursor paging of a store's kiosk catalog.

A store's visible catalog is hundreds to a few thousand products, loaded whole for each list
request: filtering and sorting its kiosk views in Python keeps search over the *merged* tags
(POS and enrichment) and every sort order identical on SQLite and PostgreSQL. The category,
brand and strain filters are pushed into SQL (see `service.catalog_page`).

Cursors encode the sort, the last item's sort key and its id, so a page starts strictly after
the last item shown whatever was inserted meanwhile: no duplicates, no gaps for items that did
not change between pages.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ridgeline.catalog.schemas import CatalogSort, KioskProduct
from ridgeline.errors import ValidationFailed
from ridgeline.models.catalog import Product

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sorts products without any variant after every priced product.
_NO_PRICE = 2**62

SortKey = tuple[int | str, ...]

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
class CatalogItem:
    view: KioskProduct
    created_at: datetime


def matches(view: KioskProduct, filters: CatalogFilters) -> bool:
    """The filters SQL does not apply: stock, price range and text search."""
    if filters.in_stock is not None and view.in_stock != filters.in_stock:
        return False
    if filters.min_price_cents is not None or filters.max_price_cents is not None:
        low = filters.min_price_cents if filters.min_price_cents is not None else -1
        high = filters.max_price_cents if filters.max_price_cents is not None else _NO_PRICE
        if not any(low <= v.price_cents <= high for v in view.variants):
            return False
    if filters.q:
        needle = filters.q.casefold()
        haystack = [view.name, view.brand, *view.tags]
        if not any(needle in text.casefold() for text in haystack):
            return False
    return True


def _lowest_price(view: KioskProduct) -> int | None:
    return min((v.price_cents for v in view.variants), default=None)


def sort_key(item: CatalogItem, sort: CatalogSort) -> SortKey:
    """The key a sort orders by (the id breaks ties). Prices sort by a product's lowest
    variant price ("from $x"); products without variants come last."""
    view = item.view
    if sort is CatalogSort.FEATURED:
        return (0 if view.featured else 1, view.sort_order, view.name.casefold())
    if sort is CatalogSort.NAME:
        return (view.name.casefold(),)
    price = _lowest_price(view)
    if sort is CatalogSort.PRICE_ASC:
        return (_NO_PRICE if price is None else price,)
    if sort is CatalogSort.PRICE_DESC:
        return (1 if price is None else -price,)
    return (-((item.created_at - _EPOCH) // timedelta(microseconds=1)),)


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


def page_of_items(
    items: Sequence[CatalogItem], sort: CatalogSort, *, limit: int, cursor: str | None
) -> tuple[list[KioskProduct], str | None]:
    """One page of `items` in `sort` order after `cursor`, and the cursor of the next page."""
    keyed = sorted(
        (((sort_key(item, sort), str(item.view.id)), item) for item in items),
        key=lambda pair: pair[0],
    )
    if cursor is not None:
        after = decode_cursor(cursor, sort)
        keyed = [(k, item) for k, item in keyed if k > after]
    page = keyed[: limit + 1]
    if len(page) <= limit:
        return [item.view for _, item in page], None
    (last_key, _), last = page[limit - 1]
    return [item.view for _, item in page[:limit]], encode_cursor(sort, last_key, last.view.id)


def catalog_item(product: Product, view: KioskProduct) -> CatalogItem:
    return CatalogItem(view=view, created_at=product.created_at)
