"""Pydantic shapes of the catalog API: the kiosk view, the operator view, and their bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ridgeline.api.schemas import PageMeta, PatchBody, RequestBody

# The product's vocabulary, defined once with the canonical product; the catalog API shows it.
from ridgeline.pos.canonical import Category as Category
from ridgeline.pos.canonical import StrainType as StrainType


class CatalogSort(StrEnum):
    FEATURED = "featured"
    NAME = "name"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"


# RFID tags are EPC hex strings or vendor ids: a conservative alphabet that is safe in a path,
# with at least one character other than a dot (clients drop `.` and `..` segments from a path,
# so such a tag could never be read or removed again). Its length is checked apart (TAG_MAX).
TAG_PATTERN = r"^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$"
TAG_MAX = 128
# Free text that reaches the database: NUL is refused (PostgreSQL cannot store it).
TEXT_PATTERN = r"^[^\x00]*$"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("must be an absolute http(s) URL")
    return value


ImageUrl = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_http_url)]
Tag = Annotated[str, Field(min_length=1, max_length=50), AfterValidator(_no_nul)]
Description = Annotated[str, Field(max_length=5000), AfterValidator(_no_nul)]


# Kiosk view


class KioskVariant(BaseModel):
    id: uuid.UUID
    label: str
    weight_grams: float | None
    price_cents: int
    quantity_available: int


class KioskProduct(BaseModel):
    """A product as a kiosk shows it: canonical POS fields with the operator's enrichment merged."""

    id: uuid.UUID
    store_id: uuid.UUID
    external_id: str
    sku: str | None
    name: str
    brand: str
    category: str
    strain_type: str | None
    thc: dict[str, Any] | None
    cbd: dict[str, Any] | None
    is_medical_only: bool
    description: str | None
    images: list[str] = Field(description="Enrichment images first, then the POS's image URLs.")
    tags: list[str] = Field(description="The POS's tags, then the enrichment's not already there.")
    featured: bool
    sort_order: int
    in_stock: bool
    variants: list[KioskVariant] = Field(description="In the POS's order (position).")
    pos_updated_at: datetime | None
    synced_at: datetime


class StreamPositionOut(BaseModel):
    stream_id: str
    epoch: str
    offset: int
    cursor: str = Field(description="Pass as `since` to `GET /api/v1/catalog/changes`.")


class CatalogStatus(BaseModel):
    last_synced_at: datetime | None
    stale: bool = Field(description="No successful sync within the store's stale_after_s, or ever.")
    stale_reason: str | None = Field(
        default=None,
        description="Why it is stale: the store's health cause while its POS is away "
        "(`pos_unreachable`, `credentials_refused`, `breaker_open`, ...), else `never_synced` "
        "or `sync_overdue`; null when fresh.",
    )
    store_state: str | None = Field(
        default=None, description="The store's connection state (`connected`, `error`, ...)."
    )
    position: StreamPositionOut


class CatalogPageMeta(PageMeta):
    catalog: CatalogStatus


class CatalogPage(BaseModel):
    status: Literal["success"] = "success"
    data: list[KioskProduct]
    meta: CatalogPageMeta


class CatalogChange(BaseModel):
    type: str
    data: dict[str, Any]
    at: str
    offset: int


class ChangesMeta(BaseModel):
    cursor: str = Field(description="The `since` of the next call.")
    count: int
    has_more: bool = Field(description="More changes are waiting: call again at once.")


class ChangesPage(BaseModel):
    status: Literal["success"] = "success"
    data: list[CatalogChange]
    meta: ChangesMeta


# Operator view


class EnrichmentOut(BaseModel):
    description: str | None
    images: list[str]
    tags: list[str]
    hidden: bool
    featured: bool
    sort_order: int
    updated_at: datetime | None


class OperatorVariant(KioskVariant):
    external_id: str
    position: int
    inventory_updated_at: datetime | None


class OperatorProduct(BaseModel):
    """A product as operators manage it: the POS's fields untouched, and the enrichment apart."""

    id: uuid.UUID
    store_id: uuid.UUID
    external_id: str
    sku: str | None
    name: str
    brand: str
    category: str
    vendor_category: str | None
    strain_type: str | None
    thc: dict[str, Any] | None
    cbd: dict[str, Any] | None
    is_medical_only: bool
    is_active: bool
    image_urls: list[str]
    tags: list[str]
    variants: list[OperatorVariant]
    enrichment: EnrichmentOut
    visible_to_kiosks: bool = Field(description="Active in the POS and not hidden.")
    pos_updated_at: datetime | None
    synced_at: datetime
    created_at: datetime
    updated_at: datetime


class EnrichmentPatch(PatchBody):
    description: Description | None = None
    images: list[ImageUrl] | None = Field(default=None, max_length=20)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    hidden: bool | None = None
    featured: bool | None = None
    sort_order: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)

    nullable_fields: ClassVar[frozenset[str]] = frozenset({"description"})


class RfidTagPut(RequestBody):
    product_id: uuid.UUID


class RfidTagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    store_id: uuid.UUID
    tag: str
    product_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
