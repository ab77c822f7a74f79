"""The canonical catalog: what every adapter maps its vendor's records into (conventions.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Category(StrEnum):
    FLOWER = "flower"
    PRE_ROLL = "pre_roll"
    VAPE = "vape"
    CONCENTRATE = "concentrate"
    EDIBLE = "edible"
    BEVERAGE = "beverage"
    TINCTURE = "tincture"
    TOPICAL = "topical"
    CAPSULE = "capsule"
    ACCESSORY = "accessory"
    OTHER = "other"


class StrainType(StrEnum):
    INDICA = "indica"
    SATIVA = "sativa"
    HYBRID = "hybrid"
    CBD = "cbd"
    NONE = "none"


class PotencyUnit(StrEnum):
    PERCENT = "percent"
    MG = "mg"


class Potency(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: float = Field(ge=0)
    unit: PotencyUnit


class CanonicalVariant(BaseModel):
    model_config = ConfigDict(frozen=True)

    external_id: str = Field(min_length=1, description="The POS's id for this variant.")
    label: str = Field(min_length=1, max_length=100)
    weight_grams: float | None = Field(default=None, ge=0)
    price_cents: int = Field(ge=0)
    quantity_available: int | None = Field(
        default=None, ge=0, description="None when the product record carries no stock."
    )


class CanonicalProduct(BaseModel):
    """One product as the POS describes it, in our vocabulary. Operator enrichment (description,
    images, tags, hidden, featured) lives elsewhere and is never part of this."""

    model_config = ConfigDict(frozen=True)

    external_id: str = Field(min_length=1, max_length=200)
    sku: str | None = Field(default=None, max_length=200)
    name: str = Field(min_length=1, max_length=500)
    brand: str = Field(default="", max_length=200)
    category: Category
    vendor_category: str | None = Field(
        default=None, description="The POS's own category name, for field-mapping overrides."
    )
    strain_type: StrainType | None = None
    thc: Potency | None = None
    cbd: Potency | None = None
    variants: list[CanonicalVariant] = Field(min_length=1)
    is_medical_only: bool = False
    is_active: bool = True
    image_urls: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    pos_updated_at: datetime | None = None

    @field_validator("pos_updated_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("pos_updated_at must carry a time zone")
        return value


def dollars_to_cents(value: object) -> int:
    """Decimal dollars (number or string) to integer cents, rounding half up, without floats."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a price: {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a price: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not a price: {value!r}")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


_GRAMS_PER_UNIT = {
    "g": 1.0,
    "gram": 1.0,
    "grams": 1.0,
    "mg": 0.001,
    "milligrams": 0.001,
    "oz": 28.349523125,
    "ounce": 28.349523125,
}


def weight_in_grams(amount: float | None, unit: str | None) -> float | None:
    if amount is None or unit is None:
        return None
    factor = _GRAMS_PER_UNIT.get(unit.strip().lower())
    return None if factor is None else round(float(amount) * factor, 4)


def weight_label(amount: float | None, unit: str | None) -> str:
    """`3.5 g`, `100 mg`, or `each` for items sold by the unit."""
    if amount is None or unit is None or unit.strip().lower() in ("ea", "each", "unit", "units"):
        return "each"
    number = f"{float(amount):g}"
    return f"{number} {unit.strip().lower()}"
