"""The simulator's dialect-neutral model of a store's catalog and orders; dialects render it.

A product keeps one identity (`product_id`, in the shape its store's dialect uses) and canonical
fields; each dialect module turns it into that POS's JSON. Orders keep the dialect's own status
strings, because the status vocabulary (and its transitions) is what each POS gets right or wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Dialect(StrEnum):
    DUTCHIE = "dutchie"
    TREEZ = "treez"
    BLAZE = "blaze"
    FLOWHUB = "flowhub"


# `--stores N` cycles through the dialects in this order.
DIALECT_CYCLE: tuple[Dialect, ...] = (
    Dialect.DUTCHIE,
    Dialect.TREEZ,
    Dialect.BLAZE,
    Dialect.FLOWHUB,
)


class Category(StrEnum):
    """Ridgeline's canonical categories (docs/pos/README.md); each dialect has its own names."""

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
    INDICA = "Indica"
    SATIVA = "Sativa"
    HYBRID = "Hybrid"
    CBD = "CBD"


class PotencyUnit(StrEnum):
    PERCENT = "%"
    MILLIGRAMS = "mg"


@dataclass
class Variant:
    """One sellable size of a product. The first variant of a product is its primary one."""

    variant_id: str
    label: str
    grams: float | None
    price_cents: int


@dataclass
class Product:
    number: int
    product_id: str
    sku: str
    name: str
    brand: str
    category: Category
    # Which of the dialect's names for the category this product uses (Flowhub has "Vapes" and
    # "Cartridges", BLAZE "Accessory" and "Gear").
    category_pick: int
    subcategory: str
    strain: str | None
    strain_type: StrainType | None
    potency_unit: PotencyUnit | None
    thc: float | None
    cbd: float | None
    variants: list[Variant]
    sold_by_weight: bool
    quantity: int
    active: bool
    medical_only: bool
    online: bool
    image_url: str | None
    tags: list[str]
    batch_id: str
    package_id: str
    # Catalog fields (name, price, status) and stock change separately: Treez, Dutchie and
    # Flowhub only move `updated_at`; BLAZE embeds stock in the product and moves on both.
    updated_at: datetime
    stock_updated_at: datetime

    @property
    def primary(self) -> Variant:
        return self.variants[0]

    @property
    def price_cents(self) -> int:
        return self.primary.price_cents

    def variant(self, variant_id: str) -> Variant | None:
        return next((v for v in self.variants if v.variant_id == variant_id), None)

    def set_price(self, price_cents: int) -> None:
        """Set the primary price; other sizes keep their ratio to it."""
        old = self.primary.price_cents
        for variant in self.variants[1:]:
            variant.price_cents = max(1, round(variant.price_cents * price_cents / max(old, 1)))
        self.primary.price_cents = price_cents

    def summary(self) -> dict[str, Any]:
        """The neutral view the control API shows."""
        return {
            "id": self.product_id,
            "number": self.number,
            "sku": self.sku,
            "name": self.name,
            "brand": self.brand,
            "category": self.category.value,
            "subcategory": self.subcategory,
            "strain": self.strain,
            "strain_type": self.strain_type.value if self.strain_type else None,
            "potency_unit": self.potency_unit.value if self.potency_unit else None,
            "thc": self.thc,
            "cbd": self.cbd,
            "price_cents": self.price_cents,
            "variants": [
                {
                    "id": v.variant_id,
                    "label": v.label,
                    "grams": v.grams,
                    "price_cents": v.price_cents,
                }
                for v in self.variants
            ],
            "quantity": self.quantity,
            "active": self.active,
            "medical_only": self.medical_only,
            "online": self.online,
            "image_url": self.image_url,
            "updated_at": iso_ms(self.updated_at),
            "stock_updated_at": iso_ms(self.stock_updated_at),
        }


@dataclass
class OrderLine:
    product_id: str
    variant_id: str | None
    name: str
    quantity: int
    price_cents: int

    def summary(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "variant_id": self.variant_id,
            "name": self.name,
            "quantity": self.quantity,
            "price_cents": self.price_cents,
        }


@dataclass
class Order:
    """An order as the POS holds it: Dutchie preorder, Treez ticket, BLAZE cart, Flowhub order."""

    order_id: str
    number: int
    reference: str | None
    idempotency_key: str | None
    lines: list[OrderLine]
    status: str
    created_at: datetime
    updated_at: datetime
    customer: dict[str, Any] | None = None
    notes: str | None = None
    postback_url: str | None = None
    order_type: str | None = None
    # Whether the order currently holds stock (taken on acceptance, given back on cancel/reject).
    holds_stock: bool = False
    history: list[tuple[str, datetime]] = field(default_factory=list)
    # The store's tax rate when the order was made, in basis points of its subtotal.
    tax_basis_points: int = 0

    @property
    def subtotal_cents(self) -> int:
        return sum(line.price_cents * line.quantity for line in self.lines)

    @property
    def tax_cents(self) -> int:
        """Taxes the way many POSes compute them: once on the order's subtotal, half up to the
        cent (not per line, as Ridgeline does: the two totals can differ by a few cents)."""
        return (self.subtotal_cents * self.tax_basis_points + 5_000) // 10_000

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents


def iso_ms(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a `Z`, the way the dialects write timestamps."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a naive one is taken as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
