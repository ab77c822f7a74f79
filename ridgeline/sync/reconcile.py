"""Reconciliation: a fresh read of the POS compared with our catalog, written nowhere.

The POS is read with no transaction open; our side is read in a short read-only transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import PosReadFailed
from ridgeline.pos.canonical import CanonicalProduct
from ridgeline.pos.client import PosConnector
from ridgeline.pos.errors import PosError, RecordInvalid
from ridgeline.resilience import CircuitOpen
from ridgeline.stores.service import get_store
from ridgeline.sync import repository
from ridgeline.sync.mapping import FieldMapping, stock_by_product
from ridgeline.sync.schemas import (
    MissingProduct,
    PriceDifference,
    Reconciliation,
    StockDifference,
)

# Each list is cut at this many entries: a badly drifted store still answers quickly.
MAX_DIFFERENCES = 500


async def reconcile(
    database: Database,
    connector: PosConnector,
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    clock: Clock,
) -> Reconciliation:
    async with database.transaction(write=False) as session:
        store = await get_store(session, scope, store_id)
        state = await repository.sync_state(session, scope, store.id)
    adapter = connector.adapter_for(store)
    try:
        mapping = FieldMapping.model_validate((state.field_mapping if state else None) or {})
    except ValidationError:
        mapping = FieldMapping()
    try:
        fetch = await adapter.fetch_products()
        levels = await adapter.fetch_inventory()
    except (PosError, CircuitOpen) as exc:
        raise PosReadFailed(details={"reason": str(exc)}) from exc
    pos: dict[str, CanonicalProduct] = {}
    invalid = 0
    for record in fetch.records:
        try:
            product = mapping.apply(adapter.map_product(record))
        except (RecordInvalid, ValidationError, ValueError):
            invalid += 1
            continue
        if product.is_active:
            pos.setdefault(product.external_id, product)
    stock = stock_by_product(levels)

    async with database.transaction(write=False) as session:
        known = await repository.known_products(session, scope, store.id)
        active = {ext: seen for ext, seen in known.items() if seen.is_active}
        products = await repository.products_by_id(session, scope, (s.id for s in active.values()))
        variants = await repository.variants_of(session, scope, products)

    result = Reconciliation(
        checked_at=clock.now(),
        pos_products=len(pos),
        catalog_products=len(active),
        invalid_records=invalid,
        missing_in_catalog=[
            MissingProduct(external_id=ext, name=product.name)
            for ext, product in pos.items()
            if ext not in active
        ][:MAX_DIFFERENCES],
        missing_in_pos=[
            MissingProduct(external_id=ext, name=products[seen.id].name, product_id=seen.id)
            for ext, seen in active.items()
            if ext not in pos
        ][:MAX_DIFFERENCES],
        price_differences=[],
        stock_differences=[],
    )
    for ext, seen in active.items():
        canonical = pos.get(ext)
        if canonical is None:
            continue
        _compare(seen.id, ext, canonical, variants[seen.id], stock.get(ext, {}), result)
    result.price_differences = result.price_differences[:MAX_DIFFERENCES]
    result.stock_differences = result.stock_differences[:MAX_DIFFERENCES]
    return result


def _compare(
    product_id: uuid.UUID,
    external_id: str,
    canonical: CanonicalProduct,
    ours: Sequence[Any],
    levels: Mapping[str | None, int],
    result: Reconciliation,
) -> None:
    prices = {variant.external_id: variant.price_cents for variant in canonical.variants}
    for variant in ours:
        pos_price = prices.get(variant.external_id)
        if pos_price is not None and pos_price != variant.price_cents:
            result.price_differences.append(
                PriceDifference(
                    product_id=product_id,
                    external_id=external_id,
                    variant_external_id=variant.external_id,
                    ours_cents=variant.price_cents,
                    pos_cents=pos_price,
                )
            )
        pos_stock = levels.get(variant.external_id, levels.get(None, 0))
        if pos_stock != variant.quantity_available:
            result.stock_differences.append(
                StockDifference(
                    product_id=product_id,
                    external_id=external_id,
                    variant_external_id=variant.external_id,
                    ours=variant.quantity_available,
                    pos=pos_stock,
                )
            )
