"""Field-mapping overrides and the content hash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ridgeline.errors import ValidationFailed
from ridgeline.pos.canonical import CanonicalProduct, CanonicalVariant, Category
from ridgeline.sync.mapping import FieldMapping, content_hash, parse_field_mapping


def product(**changes: object) -> CanonicalProduct:
    fields: dict[str, object] = {
        "external_id": "p1",
        "name": "Blue Dream",
        "brand": "Old Co",
        "category": Category.OTHER,
        "vendor_category": "Vapes & Carts",
        "variants": [CanonicalVariant(external_id="v1", label="1 g", price_cents=1000)],
    }
    return CanonicalProduct.model_validate({**fields, **changes})


def test_overrides_apply_by_vendor_value() -> None:
    mapping = parse_field_mapping(
        {"category": {"Vapes & Carts": "vape"}, "brand": {"Old Co": "New Co"}}
    )
    mapped = mapping.apply(product())
    assert (mapped.category, mapped.brand) == (Category.VAPE, "New Co")
    untouched = product(vendor_category="Flower", brand="Other")
    assert mapping.apply(untouched) is untouched


def test_invalid_mappings_name_the_bad_entry() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_field_mapping({"category": {"Carts": "cartridge"}})
    (error,) = caught.value.details["fields"]
    assert error["loc"][:4] == ["body", "field_mapping", "category", "Carts"]
    with pytest.raises(ValidationFailed):
        parse_field_mapping({"strain": {}})
    assert parse_field_mapping(None) == FieldMapping()


def test_the_hash_ignores_the_pos_timestamp_only() -> None:
    base = product()
    assert content_hash(base) == content_hash(product(pos_updated_at=datetime.now(UTC)))
    assert content_hash(base) != content_hash(product(name="Blue Dream 2"))
