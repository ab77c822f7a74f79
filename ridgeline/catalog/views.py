"""The kiosk view of a product: one function, used by the API and by whoever appends catalog
events (the sync engine, enrichment changes), so that a kiosk sees the same shape either way.

`is_visible` and `kiosk_view` read their arguments by attribute only (the protocols below): ORM
objects, or the column-only rows the catalog list reads (`repository.page_products`), under the
same rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ridgeline.catalog.schemas import (
    EnrichmentOut,
    KioskProduct,
    KioskVariant,
    OperatorProduct,
    OperatorVariant,
)
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant


class ProductFields(Protocol):
    """What a kiosk view reads of a product (`Product`, or a row of its columns)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def store_id(self) -> uuid.UUID: ...
    @property
    def external_id(self) -> str: ...
    @property
    def sku(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def brand(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def strain_type(self) -> str | None: ...
    @property
    def thc(self) -> dict[str, Any] | None: ...
    @property
    def cbd(self) -> dict[str, Any] | None: ...
    @property
    def is_medical_only(self) -> bool: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def image_urls(self) -> list[str]: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def pos_updated_at(self) -> datetime | None: ...
    @property
    def synced_at(self) -> datetime: ...


class VariantFields(Protocol):
    """What a kiosk view reads of a variant."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def label(self) -> str: ...
    @property
    def weight_grams(self) -> float | None: ...
    @property
    def price_cents(self) -> int: ...
    @property
    def quantity_available(self) -> int: ...
    @property
    def position(self) -> int: ...


class EnrichmentFields(Protocol):
    """What a kiosk view reads of a product's enrichment."""

    @property
    def description(self) -> str | None: ...
    @property
    def images(self) -> list[str]: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def hidden(self) -> bool: ...
    @property
    def featured(self) -> bool: ...
    @property
    def sort_order(self) -> int: ...


_Variant = TypeVar("_Variant", bound=VariantFields)


def is_visible(product: ProductFields, enrichment: EnrichmentFields | None) -> bool:
    """Whether kiosks may see the product: active in the POS and not hidden by an operator."""
    return product.is_active and not (enrichment is not None and enrichment.hidden)


def _ordered(variants: Iterable[_Variant]) -> list[_Variant]:
    return sorted(variants, key=lambda v: (v.position, v.label, str(v.id)))


def merged_tags(pos_tags: list[str], extra: list[str]) -> list[str]:
    """The POS's tags, then enrichment tags not already there (case-insensitive)."""
    merged = list(dict.fromkeys(pos_tags))
    seen = {tag.casefold() for tag in merged}
    for tag in extra:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            merged.append(tag)
    return merged


def kiosk_view(
    product: ProductFields,
    variants: Iterable[VariantFields],
    enrichment: EnrichmentFields | None,
) -> KioskProduct:
    """The product as a kiosk shows it. `variants` are the product's own (any order)."""
    ordered = _ordered(variants)
    extra_images = list(enrichment.images) if enrichment is not None else []
    return KioskProduct(
        id=product.id,
        store_id=product.store_id,
        external_id=product.external_id,
        sku=product.sku,
        name=product.name,
        brand=product.brand,
        category=product.category,
        strain_type=product.strain_type,
        thc=product.thc,
        cbd=product.cbd,
        is_medical_only=product.is_medical_only,
        description=enrichment.description if enrichment is not None else None,
        images=list(dict.fromkeys([*extra_images, *product.image_urls])),
        tags=merged_tags(list(product.tags), list(enrichment.tags) if enrichment else []),
        featured=enrichment.featured if enrichment is not None else False,
        sort_order=enrichment.sort_order if enrichment is not None else 0,
        in_stock=any(v.quantity_available > 0 for v in ordered),
        variants=[
            KioskVariant(
                id=v.id,
                label=v.label,
                weight_grams=v.weight_grams,
                price_cents=v.price_cents,
                quantity_available=v.quantity_available,
            )
            for v in ordered
        ],
        pos_updated_at=product.pos_updated_at,
        synced_at=product.synced_at,
    )


def kiosk_event_data(
    product: Product,
    variants: Iterable[ProductVariant],
    enrichment: ProductEnrichment | None,
) -> dict[str, Any]:
    """The `data` of a `product.created/updated/deactivated` event: the kiosk view as JSON."""
    return kiosk_view(product, variants, enrichment).model_dump(mode="json")


def operator_view(
    product: Product,
    variants: Iterable[ProductVariant],
    enrichment: ProductEnrichment | None,
) -> OperatorProduct:
    return OperatorProduct(
        id=product.id,
        store_id=product.store_id,
        external_id=product.external_id,
        sku=product.sku,
        name=product.name,
        brand=product.brand,
        category=product.category,
        vendor_category=product.vendor_category,
        strain_type=product.strain_type,
        thc=product.thc,
        cbd=product.cbd,
        is_medical_only=product.is_medical_only,
        is_active=product.is_active,
        image_urls=list(product.image_urls),
        tags=list(product.tags),
        variants=[
            OperatorVariant(
                id=v.id,
                external_id=v.external_id,
                label=v.label,
                weight_grams=v.weight_grams,
                price_cents=v.price_cents,
                quantity_available=v.quantity_available,
                position=v.position,
                inventory_updated_at=v.inventory_updated_at,
            )
            for v in _ordered(variants)
        ],
        enrichment=EnrichmentOut(
            description=enrichment.description if enrichment else None,
            images=list(enrichment.images) if enrichment else [],
            tags=list(enrichment.tags) if enrichment else [],
            hidden=enrichment.hidden if enrichment else False,
            featured=enrichment.featured if enrichment else False,
            sort_order=enrichment.sort_order if enrichment else 0,
            updated_at=enrichment.updated_at if enrichment else None,
        ),
        visible_to_kiosks=is_visible(product, enrichment),
        pos_updated_at=product.pos_updated_at,
        synced_at=product.synced_at,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )
