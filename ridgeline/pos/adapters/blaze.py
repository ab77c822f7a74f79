"""BLAZE partner API (docs/pos/blaze.md): two key headers, skip/limit paging with a total, price
breaks as variants, and orders as carts that carry our reference in `externalId`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr

from ridgeline.pos.adapters import mapping as fields
from ridgeline.pos.adapters.events import (
    data_section,
    event_id,
    event_kind,
    event_text,
    order_update,
)
from ridgeline.pos.adapters.responses import (
    CatalogPages,
    epoch_millis,
    expect_count,
    expect_object,
    expect_records,
    expect_text_id,
    failure,
    next_cursor,
    order_total_cents,
    overlap_start,
    succeeded,
    vendor_message,
)
from ridgeline.pos.base import (
    EndpointClass,
    EventKind,
    InventoryLevel,
    OrderUpdate,
    PosConfig,
    PosEventIn,
    PosIdentity,
    PosOrderReceipt,
    PosOrderRequest,
    PosOrderStatus,
    PosWebhookRegistration,
    ProductFetch,
    Registration,
)
from ridgeline.pos.canonical import (
    CanonicalProduct,
    CanonicalVariant,
    Category,
    Potency,
    PotencyUnit,
)
from ridgeline.pos.capabilities import (
    OrderLookup,
    PosAdapter,
    WebhookRegistrar,
    WebhookSource,
)
from ridgeline.pos.errors import PosProtocolError, RecordInvalid
from ridgeline.resilience.rate_limit import RateLimit, RateLimits

PAGE_SIZE = 500  # the largest `limit` BLAZE serves

CATEGORIES = fields.category_table(
    {
        "Flower": Category.FLOWER,
        "Pre-Roll": Category.PRE_ROLL,
        "Vape": Category.VAPE,
        "Concentrate": Category.CONCENTRATE,
        "Edible": Category.EDIBLE,
        "Drink": Category.BEVERAGE,
        "Tincture": Category.TINCTURE,
        "Topical": Category.TOPICAL,
        "Capsule": Category.CAPSULE,
        "Accessory": Category.ACCESSORY,
        "Gear": Category.ACCESSORY,
    }
)

# weightPerUnit -> (label, grams); EACH is sold by the piece.
WEIGHTS: Mapping[str, tuple[str, Decimal | None]] = {
    "EACH": ("each", None),
    "HALF_GRAM": ("0.5 g", Decimal("0.5")),
    "FULL_GRAM": ("1 g", Decimal(1)),
    "EIGHTH": ("3.5 g", Decimal("3.5")),
    "FOURTH": ("7 g", Decimal(7)),
    "HALF_OUNCE": ("14 g", Decimal(14)),
    "OUNCE": ("28 g", Decimal(28)),
}

ORDER_STATUSES: Mapping[str, PosOrderStatus] = {
    "InProgress": PosOrderStatus.SUBMITTED,
    "Placed": PosOrderStatus.SUBMITTED,
    "Accepted": PosOrderStatus.ACCEPTED,
    "Completed": PosOrderStatus.COMPLETED,
    "Declined": PosOrderStatus.REJECTED,
    "CanceledByConsumer": PosOrderStatus.CANCELLED,
    "CanceledByDispensary": PosOrderStatus.CANCELLED,
}

# What BLAZE pushes to a registered URL: product changes and consumer orders (carts).
WEBHOOK_EVENTS: Mapping[str, EventKind] = {
    "UPDATE_PRODUCT": EventKind.PRODUCT,
    "NEW_CONSUMER_ORDER": EventKind.ORDER,
    "UPDATE_CONSUMER_ORDER": EventKind.ORDER,
}
WEBHOOK_TYPES = tuple(WEBHOOK_EVENTS)

# No published limits (doc); the simulator allows 50 requests/s per key with 429 + Retry-After
# beyond (assumed), counted over all endpoints. We keep to 40/s.
RATE_LIMITS = RateLimits(
    vendor="blaze", buckets={"default": RateLimit.within(50, 1.0, headroom=0.8)}
)

_IN_PROGRESS = "InProgress"
_MESSAGE_KEYS = ("message", "Message", "error")
# A price-break variant's id: the product id, this marker, and the break's quantity.
_BREAK_MARK = ":break:"


class BlazeConfig(PosConfig):
    base_url: str = Field(
        default="https://api.partners.blaze.me/api/v1/partner",
        pattern=r"^https?://[^\s]+$",
        max_length=500,
    )
    partner_key: SecretStr = Field(min_length=1, description="The integrator's key.")
    api_key: SecretStr = Field(min_length=1, description="The dispensary's key; names the shop.")
    shop_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The shop's id (GET /store). Webhooks naming another shop are refused; "
        "registering webhooks fills it in.",
    )


def break_variant_id(product_id: str, quantity: Decimal) -> str:
    return f"{product_id}{_BREAK_MARK}{quantity.normalize():f}"


def _potency(record: Mapping[str, Any], key: str) -> Potency | None:
    """Milligrams per unit from `potencyAmount` (edibles, tinctures) when it gives them; else the
    percentage (`thc`, `cbd`), which BLAZE leaves at 0 for products dosed in milligrams."""
    amounts = record.get("potencyAmount")
    if isinstance(amounts, Mapping):
        milligrams = fields.optional_number(amounts, key, container=record)
        if milligrams is not None:
            return Potency(value=float(milligrams), unit=PotencyUnit.MG)
    return fields.potency(fields.optional_number(record, key), PotencyUnit.PERCENT)


def _brand(record: Mapping[str, Any]) -> str:
    brand = record.get("brand")
    if isinstance(brand, Mapping):  # some shops expand the brand object
        return fields.optional_text(brand, "name", container=record) or ""
    return fields.optional_text(record, "brand") or ""


def _variants(record: Mapping[str, Any], product_id: str) -> list[CanonicalVariant]:
    weight_key = fields.optional_text(record, "weightPerUnit")
    label, grams = WEIGHTS.get(
        (weight_key or "EACH").upper(), ((weight_key or "").replace("_", " ").lower(), None)
    )
    quantities = record.get("quantities")
    stock: int | None = None
    if quantities is not None:
        if not isinstance(quantities, list) or not all(isinstance(q, Mapping) for q in quantities):
            raise RecordInvalid("quantities must be a list of objects", record)
        # One stock figure shared by every variant of the product.
        stock = sum(fields.stock(row, "quantity", container=record) or 0 for row in quantities)
    breaks = record.get("priceBreaks")
    if not breaks:
        return [
            CanonicalVariant(
                external_id=product_id,
                label=label,
                weight_grams=None if grams is None else float(grams),
                price_cents=fields.price_cents(record, "unitPrice"),
                quantity_available=stock,
            )
        ]
    if not isinstance(breaks, list) or not all(isinstance(entry, Mapping) for entry in breaks):
        raise RecordInvalid("priceBreaks must be a list of objects", record)
    fields.optional_number(record, "unitPrice")  # unused here, but a broken one is a broken record
    variants: list[CanonicalVariant] = []
    for entry in breaks:
        size = fields.optional_number(entry, "quantity", container=record)
        if size is None or size == 0:
            raise RecordInvalid("a price break needs a positive quantity", record)
        if any(v.external_id == break_variant_id(product_id, size) for v in variants):
            raise RecordInvalid(f"two price breaks for a quantity of {size}", record)
        variants.append(
            CanonicalVariant(
                external_id=break_variant_id(product_id, size),
                label=fields.required_text(entry, "name", container=record),
                # A break of a product sold by weight is `quantity` grams ("1/8th": 3.5).
                weight_grams=None if grams is None else float(size),
                price_cents=fields.price_cents(entry, "price", container=record),
                quantity_available=stock,
            )
        )
    return variants


@fields.guarded
def map_blaze_product(record: Mapping[str, Any]) -> CanonicalProduct:
    product_id = fields.identifier(record, "id")
    category_name = fields.optional_text(
        fields.section(record, "category"), "name", container=record
    )
    assets = record.get("assets") or []
    if not isinstance(assets, list) or not all(isinstance(asset, Mapping) for asset in assets):
        raise RecordInvalid("assets must be a list of objects", record)
    images = [fields.optional_text(asset, "publicURL", container=record) for asset in assets]
    return CanonicalProduct(
        external_id=product_id,
        sku=fields.optional_text(record, "sku"),
        name=fields.required_text(record, "name"),
        brand=_brand(record),
        category=fields.category(CATEGORIES, category_name),
        vendor_category=category_name,
        strain_type=fields.strain_type(fields.optional_text(record, "flowerType")),
        thc=_potency(record, "thc"),
        cbd=_potency(record, "cbd"),
        variants=_variants(record, product_id),
        is_medical_only=fields.optional_text(record, "productSaleType") == "Medicinal",
        # showInWidget=false keeps a product off BLAZE's online menus; a kiosk is one of them.
        is_active=fields.optional_flag(record, "active", True)
        and not fields.optional_flag(record, "deleted", False)
        and fields.optional_flag(record, "showInWidget", True),
        image_urls=[image for image in images if image],
        pos_updated_at=fields.epoch_ms(record, "modified"),
    )


class BlazeAdapter(PosAdapter[BlazeConfig], OrderLookup, WebhookSource, WebhookRegistrar):
    name: ClassVar[str] = "blaze"
    display_name: ClassVar[str] = "BLAZE"
    config_model: ClassVar[type[PosConfig]] = BlazeConfig
    rate_limits: ClassVar[RateLimits] = RATE_LIMITS
    order_statuses: ClassVar[Mapping[str, PosOrderStatus]] = ORDER_STATUSES
    webhook_events: ClassVar[Mapping[str, EventKind]] = WEBHOOK_EVENTS
    webhook_registration: ClassVar[Registration] = Registration.API
    webhook_instructions: ClassVar[str] = (
        "POST /api/v1/stores/{id}/pos/webhooks registers this URL with BLAZE "
        "(POST /webHooks) for every event type; registering again replaces the URL."
    )

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
        response = await self.transport.request(
            endpoint,
            method,
            self.url(path),
            idempotent=idempotent,
            headers={
                "partner_key": self.config.partner_key.get_secret_value(),
                "Authorization": self.config.api_key.get_secret_value(),
                "Accept": "application/json",
            },
            params=params,
            json_body=json_body,
        )
        if not succeeded(response):
            raise failure(response, endpoint, vendor_message(response, _MESSAGE_KEYS))
        return response.json()

    async def _listing(
        self, endpoint: EndpointClass, path: str, params: Mapping[str, str], id_key: str
    ) -> list[Mapping[str, Any]]:
        """Every page: skip by what arrived until `total`, or until an empty page (so a total
        that overstates cannot keep us paging)."""
        collected = CatalogPages(id_key, endpoint, paged=True)
        skip = 0
        while True:
            page_params = {**params, "skip": str(skip), "limit": str(PAGE_SIZE)}
            body = expect_object(
                await self._call(endpoint, "GET", path, params=page_params), "the page", endpoint
            )
            values = expect_records(body.get("values"), "values", endpoint)
            total = expect_count(body.get("total"), "total", endpoint)
            collected.add_page(values)
            skip += len(values)
            if not values or skip >= total:
                return collected.records

    async def verify_credentials(self) -> PosIdentity:
        endpoint = EndpointClass.AUTH
        body = expect_object(await self._call(endpoint, "GET", "/store"), "store", endpoint)
        name = body.get("name")
        return PosIdentity(
            location_id=expect_text_id(body.get("id"), "store id", endpoint),
            location_name=name if isinstance(name, str) else "",
        )

    async def fetch_products(self, *, since: datetime | None = None) -> ProductFetch:
        if since is None:
            records = await self._listing(EndpointClass.PRODUCTS, "/products", {}, "id")
        else:
            window = {
                "startDate": str(epoch_millis(overlap_start(since, self.cursor_overlap_s))),
                "endDate": str(epoch_millis(self.clock.now())),
            }
            records = await self._listing(
                EndpointClass.PRODUCTS_CHANGED, "/products/modified", window, "id"
            )
        cursor = next_cursor((_modified_at(record) for record in records), since)
        return ProductFetch(records=records, cursor=cursor, full=since is None)

    async def fetch_inventory(self) -> list[InventoryLevel]:
        endpoint = EndpointClass.INVENTORY
        rows = await self._listing(endpoint, "/store/inventory/products", {}, "productId")
        levels = []
        for row in rows:
            product_id = expect_text_id(row.get("productId"), "productId", endpoint)
            try:
                quantity = fields.stock(row, "quantity") or 0
            except RecordInvalid as exc:
                raise PosProtocolError(
                    f"product {product_id}: {exc.reason}", endpoint=endpoint
                ) from None
            levels.append(InventoryLevel(product_id, None, quantity))
        return levels

    def map_product(self, record: Mapping[str, Any]) -> CanonicalProduct:
        return map_blaze_product(record)

    async def submit_order(self, order: PosOrderRequest) -> PosOrderReceipt:
        """Prepare a cart, then submit it. A cart left `InProgress` by an earlier attempt whose
        answer was lost is submitted rather than prepared again, so calling this again for the
        same reference cannot make a second order."""
        endpoint = EndpointClass.ORDER_SUBMIT
        carts = await self._carts(order.reference)
        placed = [cart for cart in carts if cart.get("status") != _IN_PROGRESS]
        if placed:
            return _receipt(placed[0], EndpointClass.ORDER_LOOKUP)
        if carts:
            cart = carts[0]
        else:
            body = {
                "externalId": order.reference,
                "memo": " ".join(part for part in (order.reference, order.notes) if part),
                "consumer": {"name": order.customer_name, "phone": order.customer_phone},
                # A cart item names the product only: BLAZE prices it (price breaks included),
                # and the quantity counts the product's units, which all its variants share.
                "items": [
                    {"productId": item.product_external_id, "quantity": item.quantity}
                    for item in order.items
                ],
            }
            cart = expect_object(
                await self._call(
                    endpoint, "POST", "/store/cart/prepare", idempotent=False, json_body=body
                ),
                "the cart",
                endpoint,
            )
        cart_id = expect_text_id(cart.get("id"), "cart id", endpoint)
        answer = await self._call(
            endpoint, "POST", f"/store/cart/submitCart/{quote(cart_id, safe='')}", idempotent=False
        )
        return _receipt(answer, endpoint)

    async def find_order(self, reference: str) -> PosOrderReceipt | None:
        """The cart carrying our reference, once submitted. A cart still `InProgress` is not an
        order yet: it reads as none, and `submit_order` finishes it."""
        carts = await self._carts(reference)
        placed = [cart for cart in carts if cart.get("status") != _IN_PROGRESS]
        return _receipt(placed[0], EndpointClass.ORDER_LOOKUP) if placed else None

    async def order_status(self, pos_order_id: str) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_STATUS
        return _receipt(
            await self._call(endpoint, "GET", f"/store/cart/{quote(pos_order_id, safe='')}"),
            endpoint,
        )

    async def cancel_order(self, pos_order_id: str) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_CANCEL
        answer = await self._call(
            endpoint, "DELETE", f"/store/cart/cancelCart/{quote(pos_order_id, safe='')}"
        )
        return _receipt(answer, endpoint)

    async def register_webhooks(self, url: str) -> PosWebhookRegistration:
        """`POST /webHooks` once per type. BLAZE keeps one URL list per type and a registration
        replaces it, so registering again is harmless (and the request is safe to retry)."""
        shop_id = self.config.shop_id or (await self.verify_credentials()).location_id
        for kind in WEBHOOK_TYPES:
            await self._call(
                EndpointClass.WEBHOOKS,
                "POST",
                "/webHooks",
                json_body={"webHookType": kind, "webHookUrls": [url], "shopId": shop_id},
            )
        return PosWebhookRegistration(events=WEBHOOK_TYPES, location_id=shop_id)

    @classmethod
    def pinned_config(cls, config: PosConfig, location_id: str) -> PosConfig | None:
        """The shop the registration named, pinned: events naming another are refused."""
        if not isinstance(config, BlazeConfig) or config.shop_id == location_id:
            return None
        return config.model_copy(update={"shop_id": location_id})

    # --- pushed events: `{"webHookType", "shopId", "eventId", "data": <product or cart>}` ---

    @classmethod
    def read_event(cls, body: Mapping[str, Any]) -> PosEventIn:
        event_type = event_text(body, "webHookType")
        return PosEventIn(
            event_type=event_type,
            event_id=event_id(event_text(body, "eventId")),
            kind=event_kind(WEBHOOK_EVENTS, "webHookType", event_type),
            location_id=event_text(body, "shopId"),
        )

    @classmethod
    def read_order_update(cls, payload: Mapping[str, Any]) -> OrderUpdate | None:
        cart = data_section(payload)
        return order_update(
            cart, cls.status_of, pos_order_id="id", reference="externalId", status="status"
        )

    @classmethod
    def event_location(cls, config: PosConfig) -> str | None:
        """The store's shop, once known (`shop_id`, filled in when webhooks are registered)."""
        return config.shop_id if isinstance(config, BlazeConfig) else None

    async def _carts(self, reference: str) -> list[Mapping[str, Any]]:
        endpoint = EndpointClass.ORDER_LOOKUP
        body = expect_object(
            await self._call(endpoint, "GET", "/store/carts", params={"externalId": reference}),
            "the carts",
            endpoint,
        )
        carts = expect_records(body.get("values"), "values", endpoint)
        # Only carts that really carry the reference, whatever the POS's filter did.
        return [cart for cart in carts if cart.get("externalId") == reference]


def _modified_at(record: Mapping[str, Any]) -> datetime | None:
    value = record.get("modified")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return fields.from_epoch_ms(value)


def _receipt(answer: object, endpoint: EndpointClass) -> PosOrderReceipt:
    cart = expect_object(answer, "the cart", endpoint)
    vendor_status = cart.get("status")
    status = ORDER_STATUSES.get(vendor_status) if isinstance(vendor_status, str) else None
    if status is None or not isinstance(vendor_status, str):
        raise PosProtocolError(f"unknown cart status {vendor_status!r}", endpoint=endpoint)
    reference = cart.get("externalId")
    return PosOrderReceipt(
        pos_order_id=expect_text_id(cart.get("id"), "cart id", endpoint),
        status=status,
        vendor_status=vendor_status,
        reference=reference if isinstance(reference, str) else None,
        total_cents=order_total_cents(cart, "total", in_dollars=True),
    )
