"""A store's field-mapping overrides (`StoreSyncState.field_mapping`) and how they apply.

Adapters map vendor records to the canonical catalog with tables that fit most stores; a store
whose POS uses its own category names or brand spellings overrides them here, by vendor value:

    {"category": {"Vapes & Carts": "vape"}, "brand": {"Old Name": "New Name"}}

Category overrides match the POS's own category name (`vendor_category`) and must name a
canonical category; brand overrides match the mapped brand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ridgeline.errors import ValidationFailed
from ridgeline.pos.base import InventoryLevel
from ridgeline.pos.canonical import CanonicalProduct, Category

_Name = str


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: dict[_Name, Category] = Field(default_factory=dict, max_length=500)
    brand: dict[_Name, str] = Field(default_factory=dict, max_length=2000)

    def apply(self, product: CanonicalProduct) -> CanonicalProduct:
        """The product with this store's overrides applied (unchanged when none match)."""
        changes: dict[str, Any] = {}
        if product.vendor_category is not None and product.vendor_category in self.category:
            changes["category"] = self.category[product.vendor_category]
        if product.brand in self.brand:
            changes["brand"] = self.brand[product.brand][:200]
        return product.model_copy(update=changes) if changes else product

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_field_mapping(raw: object, *, loc: str = "field_mapping") -> FieldMapping:
    """`ValidationFailed` naming each bad entry when `raw` is not a valid mapping."""
    try:
        return FieldMapping.model_validate(raw or {})
    except ValidationError as exc:
        raise ValidationFailed.for_fields(
            [
                {
                    "loc": ["body", loc, *(str(part) for part in error["loc"])],
                    "message": error["msg"],
                    "type": error["type"],
                }
                for error in exc.errors()
            ]
        ) from None


def content_hash(product: CanonicalProduct) -> str:
    """SHA-256 of the canonical fields a kiosk shows. `pos_updated_at` is left out: a POS that
    touches a record without changing it must not cause a write."""
    document = product.model_dump(mode="json", exclude={"pos_updated_at"})
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def stock_by_product(levels: Iterable[InventoryLevel]) -> dict[str, dict[str | None, int]]:
    """The POS's stock as product external id -> variant external id (None: every variant of
    the product) -> quantity, summing repeated rows (several batches of one product)."""
    grouped: dict[str, dict[str | None, int]] = {}
    for level in levels:
        per_variant = grouped.setdefault(level.product_external_id, {})
        per_variant[level.variant_external_id] = (
            per_variant.get(level.variant_external_id, 0) + level.quantity
        )
    return grouped
