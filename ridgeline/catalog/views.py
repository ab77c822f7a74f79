"""The kiosk view of a product: one function, used by the API and by whoever appends catalog
events (the sync engine, enrichment changes), so that a kiosk sees the same shape either way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ridgeline.catalog.schemas import (
    EnrichmentOut,
    KioskProduct,
    KioskVariant,
    OperatorProduct,
    OperatorVariant,
)
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant


def is_visible(product: Product, enrichment: ProductEnrichment | None) -> bool:
    """Whether kiosks may see the product: active in the POS and not hidden by an operator."""
    return product.is_active and not (enrichment is not None and enrichment.hidden)


def _ordered(variants: Iterable[ProductVariant]) -> list[ProductVariant]:
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
    product: Product,
    variants: Iterable[ProductVariant],
    enrichment: ProductEnrichment | None,
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
