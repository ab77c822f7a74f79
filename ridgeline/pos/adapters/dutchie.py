"""Dutchie POS (docs/pos/dutchie.md): Basic auth per location key, the whole catalog in one
answer, and preorders that the POS dedupes on our idempotency key."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from ridgeline.pos.adapters import mapping as fields
from ridgeline.pos.adapters.responses import (
    CatalogPages,
    expect_object,
    expect_records,
    expect_text_id,
    failure,
    iso_z,
    next_cursor,
    overlap_start,
    succeeded,
    vendor_message,
)
from ridgeline.pos.base import (
    EndpointClass,
    InventoryLevel,
    PosConfig,
    PosIdentity,
    PosOrderReceipt,
    PosOrderRequest,
    PosOrderStatus,
    PosResponse,
    ProductFetch,
)
from ridgeline.pos.canonical import (
    CanonicalProduct,
    CanonicalVariant,
    Category,
    weight_in_grams,
    weight_label,
)
from ridgeline.pos.capabilities import OrderDedupe, PosAdapter
from ridgeline.pos.errors import PosProtocolError, RecordInvalid
from ridgeline.resilience.rate_limit import RateLimit, RateLimits

CATEGORIES = fields.category_table(
    {
        "Flower": Category.FLOWER,
        "Pre-Rolls": Category.PRE_ROLL,
        "Vaporizers": Category.VAPE,
        "Concentrates": Category.CONCENTRATE,
        "Edibles": Category.EDIBLE,
        "Beverages": Category.BEVERAGE,
        "Tinctures": Category.TINCTURE,
        "Topicals": Category.TOPICAL,
        "Capsules": Category.CAPSULE,
        "Accessories": Category.ACCESSORY,
    }
)

ORDER_STATUSES: Mapping[str, PosOrderStatus] = {
    "Submitted": PosOrderStatus.ACCEPTED,
    "Processing": PosOrderStatus.ACCEPTED,
    "Filled": PosOrderStatus.READY,
    "Complete": PosOrderStatus.COMPLETED,
    "Cancelled": PosOrderStatus.CANCELLED,
}

# Per key and endpoint, per minute (doc): 120 baseline, 200 for /inventory and /whoami, 240 for
# preorder calls. The preorder endpoints share one bucket: the docs do not say whether the 240
# is per path, and sharing can only be safer.
RATE_LIMITS = RateLimits(
    vendor="dutchie",
    buckets={
        "default": RateLimit.within(120, 60.0, headroom=0.9),
        "products": RateLimit.within(120, 60.0, headroom=0.9),
        "inventory": RateLimit.within(200, 60.0, headroom=0.9),
        "whoami": RateLimit.within(200, 60.0, headroom=0.9),
        "preorder": RateLimit.within(240, 60.0, headroom=0.9),
    },
    routes={
        "auth": "whoami",
        "products": "products",
        "products_changed": "products",  # the same /products endpoint
        "inventory": "inventory",
        "order_submit": "preorder",
        "order_status": "preorder",
        "order_cancel": "preorder",
    },
    shared_by="store",  # one key = one location
)

_MESSAGE_KEYS = ("Message", "message")


class DutchieConfig(PosConfig):
    base_url: str = Field(
        default="https://api.pos.dutchie.com", pattern=r"^https?://[^\s]+$", max_length=500
    )
    api_key: SecretStr = Field(min_length=1, description="The location API key (one location).")
    integrator_key: SecretStr | None = Field(
        default=None, description="Sent as the Basic password when set."
    )
    consumer_key: SecretStr = Field(min_length=1, description="Sent on preorder calls.")


@fields.guarded
def map_dutchie_product(record: Mapping[str, Any]) -> CanonicalProduct:
    product_id = fields.identifier(record, "productId")
    # productName is the POS's name; onlineTitle, an optional menu headline (often name and
    # brand run together), stands in only when the name is missing.
    name = fields.optional_text(record, "productName") or fields.optional_text(
        record, "onlineTitle"
    )
    if name is None:
        raise RecordInvalid("productName is missing", record)
    # recPrice is the adult-use price our kiosks sell at; price is the fallback. A malformed
    # price is a malformed record even when it is not the one shown.
    for key in ("price", "medPrice"):
        fields.optional_number(record, key)
    price_key = "recPrice" if record.get("recPrice") is not None else "price"
    weight = fields.optional_number(record, "netWeight")
    weight_unit = fields.optional_text(record, "netWeightUnit")
    unit_type = fields.optional_text(record, "unitType")
    label = (
        "each"
        if unit_type == "Unit" or weight is None
        else weight_label(float(weight), weight_unit)
    )
    variant = CanonicalVariant(
        external_id=product_id,
        label=label,
        weight_grams=None if weight is None else weight_in_grams(float(weight), weight_unit),
        price_cents=fields.price_cents(record, price_key),
    )
    master_category = fields.optional_text(record, "masterCategory")
    image = fields.optional_text(record, "imageUrl")
    return CanonicalProduct(
        external_id=product_id,
        sku=fields.optional_text(record, "sku"),
        name=name,
        brand=fields.optional_text(record, "brandName") or "",
        category=fields.category(CATEGORIES, master_category),
        vendor_category=master_category,
        strain_type=fields.strain_type(fields.optional_text(record, "strainType")),
        thc=fields.potency(
            fields.optional_number(record, "thcContent"),
            fields.potency_unit(record.get("thcContentUnit")),
        ),
        cbd=fields.potency(
            fields.optional_number(record, "cbdContent"),
            fields.potency_unit(record.get("cbdContentUnit")),
        ),
        variants=[variant],
        is_medical_only=fields.optional_flag(record, "isMedicalOnly", False),
        # onlineAvailable=false keeps a product off online menus; a kiosk is one of them.
        is_active=fields.optional_flag(record, "isActive", True)
        and fields.optional_flag(record, "onlineAvailable", True),
        image_urls=[image] if image else [],
        tags=fields.string_list(record, "tags"),
        pos_updated_at=fields.timestamp(record, "lastModifiedDateUTC"),
    )


class DutchieAdapter(PosAdapter[DutchieConfig], OrderDedupe):
    """Dutchie cannot search preorders by our reference. It does not need to: a submission
    repeated with the same idempotency key returns the preorder it already has, which is how
    the order service recovers a lost answer here. Dutchie pushes nothing (no webhooks)."""

    name: ClassVar[str] = "dutchie"
    display_name: ClassVar[str] = "Dutchie"
    config_model: ClassVar[type[PosConfig]] = DutchieConfig
    rate_limits: ClassVar[RateLimits] = RATE_LIMITS
    order_statuses: ClassVar[Mapping[str, PosOrderStatus]] = ORDER_STATUSES
    # Dutchie's API shows a change 1-5 minutes after the register (its docs): a record can
    # appear with a modification time older than the cursor another record moved meanwhile.
    # Reaching 6 minutes back, not the minute its docs suggest, finds it at the next poll;
    # what is read twice is deduped by content hash and writes nothing.
    cursor_overlap_s: ClassVar[float] = 360.0

    def _headers(self, *, order: bool = False) -> dict[str, str]:
        password = self.config.integrator_key
        user_pass = f"{self.config.api_key.get_secret_value()}:"
        if password is not None:
            user_pass += password.get_secret_value()
        headers = {
            "Authorization": "Basic " + base64.b64encode(user_pass.encode()).decode("ascii"),
            "Accept": "application/json",
        }
        if order:
            headers["ConsumerKey"] = self.config.consumer_key.get_secret_value()
        return headers

    async def _call(
        self,
        endpoint: EndpointClass,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        order = endpoint in _ORDER_ENDPOINTS
        response: PosResponse = await self.transport.request(
            endpoint,
            method,
            self.url(path),
            idempotent=idempotent,
            headers=self._headers(order=order),
            params=params,
            json_body=json_body,
        )
        if not succeeded(response):
            raise failure(response, endpoint, vendor_message(response, _MESSAGE_KEYS))
        return response.json()

    async def verify_credentials(self) -> PosIdentity:
        body = expect_object(
            await self._call(EndpointClass.AUTH, "GET", "/whoami"), "whoami", EndpointClass.AUTH
        )
        location_id = expect_text_id(body.get("LocationId"), "LocationId", EndpointClass.AUTH)
        name = body.get("LocationName")
        return PosIdentity(
            location_id=location_id,
            location_name=name if isinstance(name, str) else "",
            details={
                key: body[key] for key in ("LicenseNumber", "Scopes") if body.get(key) is not None
            },
        )

    async def fetch_products(self, *, since: datetime | None = None) -> ProductFetch:
        endpoint = EndpointClass.PRODUCTS if since is None else EndpointClass.PRODUCTS_CHANGED
        params = {}
        if since is not None:
            params["fromLastModifiedDateUTC"] = iso_z(overlap_start(since, self.cursor_overlap_s))
        # No isActive filter: inactive products must reach the sync so it can hide them.
        body = await self._call(endpoint, "GET", "/products", params=params)
        collected = CatalogPages("productId", endpoint)
        collected.add_page(expect_records(body, "the product list", endpoint))
        records = collected.records
        cursor = next_cursor((_modified_at(record) for record in records), since)
        return ProductFetch(records=records, cursor=cursor, full=since is None)

    async def fetch_inventory(self) -> list[InventoryLevel]:
        endpoint = EndpointClass.INVENTORY
        rows = expect_records(
            await self._call(endpoint, "GET", "/inventory"), "the inventory", endpoint
        )
        totals: dict[str, int] = {}
        for row in rows:
            # One row per batch/package: a product's stock is their sum.
            product_id = expect_text_id(row.get("productId"), "inventory productId", endpoint)
            try:
                quantity = fields.stock(row, "quantityAvailable") or 0
            except RecordInvalid as exc:
                raise PosProtocolError(f"inventory row: {exc.reason}", endpoint=endpoint) from None
            totals[product_id] = totals.get(product_id, 0) + quantity
        return [InventoryLevel(pid, None, quantity) for pid, quantity in totals.items()]

    def map_product(self, record: Mapping[str, Any]) -> CanonicalProduct:
        return map_dutchie_product(record)

    async def submit_order(self, order: PosOrderRequest) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_SUBMIT
        notes = " ".join(
            part for part in (order.reference, order.customer_name, order.notes) if part
        )
        body = {
            "customerId": None,
            "items": [
                {"productId": _wire_id(item.product_external_id), "quantity": item.quantity}
                for item in order.items
            ],
            "orderType": "Pickup",
            "notes": notes,
            "idempotencyKey": order.idempotency_key,
        }
        # Safe to repeat: Dutchie answers a known idempotencyKey with the order it already has.
        answer = await self._call(endpoint, "POST", "/preorder/submit", json_body=body)
        return _receipt(answer, endpoint, reference=order.reference)

    async def order_status(self, pos_order_id: str) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_STATUS
        answer = await self._call(
            endpoint, "GET", "/preorder/Status", params={"PreOrderId": pos_order_id}
        )
        return _receipt(answer, endpoint)

    async def cancel_order(self, pos_order_id: str) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_CANCEL
        answer = await self._call(
            endpoint, "POST", "/preorder/cancel", json_body={"PreOrderId": _wire_id(pos_order_id)}
        )
        return _receipt(answer, endpoint)


_ORDER_ENDPOINTS = frozenset(
    {
        EndpointClass.ORDER_SUBMIT,
        EndpointClass.ORDER_LOOKUP,
        EndpointClass.ORDER_STATUS,
        EndpointClass.ORDER_CANCEL,
    }
)


def _wire_id(value: str) -> int | str:
    """Dutchie ids are integers on the wire; we keep them as strings."""
    return int(value) if value.isdecimal() else value


def _modified_at(record: Mapping[str, Any]) -> datetime | None:
    value = record.get("lastModifiedDateUTC")
    return fields.parse_iso(value) if isinstance(value, str) else None


def _receipt(
    answer: object, endpoint: EndpointClass, *, reference: str | None = None
) -> PosOrderReceipt:
    body = expect_object(answer, "the preorder", endpoint)
    vendor_status = body.get("Status")
    status = ORDER_STATUSES.get(vendor_status) if isinstance(vendor_status, str) else None
    if status is None or not isinstance(vendor_status, str):
        raise PosProtocolError(f"unknown preorder status {vendor_status!r}", endpoint=endpoint)
    return PosOrderReceipt(
        pos_order_id=expect_text_id(body.get("PreOrderId"), "PreOrderId", endpoint),
        status=status,
        vendor_status=vendor_status,
        reference=reference,
    )
