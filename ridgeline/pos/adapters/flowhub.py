"""Flowhub (docs/pos/flowhub.md): key headers for the catalog, which is one inventory list of
variant rows, and OAuth2 client credentials for Order Ahead."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import ConfigDict, Field, SecretStr

from ridgeline.clock import Clock
from ridgeline.pos.adapters import mapping as fields
from ridgeline.pos.adapters.events import event_id, event_text, order_update
from ridgeline.pos.adapters.responses import (
    expect_object,
    expect_records,
    expect_text_id,
    failure,
    next_cursor,
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
    PosTransport,
    ProductFetch,
    Registration,
)
from ridgeline.pos.canonical import (
    CanonicalProduct,
    CanonicalVariant,
    Category,
    Potency,
    weight_in_grams,
    weight_label,
)
from ridgeline.pos.capabilities import OrderLookup, PosAdapter, WebhookSource
from ridgeline.pos.errors import PosAuthFailed, PosProtocolError, PosRejected, RecordInvalid
from ridgeline.resilience.rate_limit import RateLimit, RateLimits

CATEGORIES = fields.category_table(
    {
        "Flower": Category.FLOWER,
        "Pre-Rolls": Category.PRE_ROLL,
        "Vapes": Category.VAPE,
        "Cartridges": Category.VAPE,
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
    "new": PosOrderStatus.ACCEPTED,
    "started": PosOrderStatus.ACCEPTED,
    "inQueue": PosOrderStatus.ACCEPTED,
    "ready": PosOrderStatus.READY,
    "inTransit": PosOrderStatus.READY,
    "delivered": PosOrderStatus.COMPLETED,
    "sold": PosOrderStatus.COMPLETED,
    "unableToComplete": PosOrderStatus.REJECTED,
    "unableToVerify": PosOrderStatus.REJECTED,
    "deleted": PosOrderStatus.CANCELLED,
}

# Flowhub pushes order postbacks only (to the postbackUrl sent with each order), and no catalog.
POSTBACK = "ORDER_POSTBACK"

# Not published; clients see 429 near 59 requests/s (doc). The simulator allows 50 requests/s per
# client (assumed), counted over all endpoints. We keep to 40/s.
RATE_LIMITS = RateLimits(
    vendor="flowhub", buckets={"default": RateLimit.within(50, 1.0, headroom=0.8)}
)

# A token is replaced when less than this many seconds, or this share of its life, remain.
TOKEN_MARGIN_S = 60.0
TOKEN_MARGIN_SHARE = 0.1

_MESSAGE_KEYS = ("message", "error_description", "error", "Message")


class FlowhubConfig(PosConfig):
    # Flowhub location ids may arrive as numbers from an operator's paste or an export.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    base_url: str = Field(
        default="https://api.flowhub.co", pattern=r"^https?://[^\s]+$", max_length=500
    )
    client_id: str = Field(min_length=1, max_length=200, description="The `clientId` header.")
    api_key: SecretStr = Field(min_length=1, description="The `key` header.")
    location_id: str = Field(min_length=1, max_length=200)
    oauth_client_id: str = Field(min_length=1, max_length=200)
    oauth_client_secret: SecretStr = Field(min_length=1)
    audience: str = Field(min_length=1, max_length=500)


def group_variant_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flowhub lists one row per variant; the canonical catalog wants one record per product:
    `{"productId": ..., "variants": [rows]}`, in the order products first appear. A row without
    a usable productId becomes a record of its own, for map_product to quarantine."""
    products: dict[str, dict[str, Any]] = {}
    orphans: list[dict[str, Any]] = []
    for row in rows:
        product_id = row.get("productId")
        if (
            isinstance(product_id, bool)
            or not isinstance(product_id, str | int)
            or product_id == ""
        ):
            orphans.append({"productId": product_id, "variants": [row]})
            continue
        group = products.setdefault(str(product_id), {"productId": product_id, "variants": []})
        group["variants"].append(row)
    return [*products.values(), *orphans]


def _potencies(record: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Potency]:
    entries = record.get("cannabinoidInformation")
    if entries is None:
        return {}
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        raise RecordInvalid("cannabinoidInformation must be a list of objects", container)
    found: dict[str, Potency] = {}
    for entry in entries:
        name = fields.optional_text(entry, "name", container=container)
        # The label shows the top of the lab's range.
        value = fields.potency(
            fields.optional_number(entry, "upperRange", container=container),
            fields.potency_unit(entry.get("unitOfMeasure")),
        )
        if name and value is not None:
            found.setdefault(name.upper(), value)
    return found


def _variant(row: Mapping[str, Any], container: Mapping[str, Any]) -> CanonicalVariant:
    weight = fields.optional_number(row, "productWeight", container=container)
    unit = fields.optional_text(row, "productUnitOfMeasure", container=container)
    as_float = None if weight is None else float(weight)
    return CanonicalVariant(
        external_id=fields.identifier(row, "variantId", container=container),
        label=weight_label(as_float, unit),
        weight_grams=weight_in_grams(as_float, unit),
        price_cents=fields.minor_units(row, "priceInMinorUnits", container=container),
        quantity_available=fields.stock(row, "quantity", container=container),
    )


@fields.guarded
def map_flowhub_product(record: Mapping[str, Any]) -> CanonicalProduct:
    """One grouped record (`group_variant_rows`), or a single inventory row."""
    rows = record.get("variants", [record])
    if not isinstance(rows, list) or not rows or not all(isinstance(r, Mapping) for r in rows):
        raise RecordInvalid("variants must be a non-empty list of objects", record)
    product_id = fields.identifier(record, "productId")
    first = rows[0]
    variants: dict[str, CanonicalVariant] = {}
    names = []
    for row in rows:
        if fields.identifier(row, "productId", container=record) != product_id:
            raise RecordInvalid("variant rows of different products were grouped", record)
        # Every row repeats the product's fields: a broken one breaks the product.
        names.append(fields.required_text(row, "productName", container=record))
        fields.optional_text(row, "brand", container=record)
        fields.optional_text(row, "category", container=record)
        variant = _variant(row, record)
        variants[variant.external_id] = variant  # a repeated row keeps its latest copy
    skus = {fields.optional_text(row, "sku", container=record) for row in rows}
    potencies = _potencies(first, record)
    category_name = fields.optional_text(first, "category", container=record)
    updated = [fields.timestamp(row, "productUpdatedAt", container=record) for row in rows]
    return CanonicalProduct(
        external_id=product_id,
        # Rows carry a sku each; the product has one only when they agree.
        sku=skus.pop() if len(skus) == 1 else None,
        name=names[0],
        brand=fields.optional_text(first, "brand", container=record) or "",
        category=fields.category(CATEGORIES, category_name),
        vendor_category=category_name,
        strain_type=fields.strain_type(first.get("speciesName")),
        thc=potencies.get("THC"),
        cbd=potencies.get("CBD"),
        variants=list(variants.values()),
        pos_updated_at=max((moment for moment in updated if moment is not None), default=None),
    )


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: datetime  # some margin before it expires


class FlowhubAdapter(PosAdapter[FlowhubConfig], OrderLookup, WebhookSource):
    name: ClassVar[str] = "flowhub"
    display_name: ClassVar[str] = "Flowhub"
    config_model: ClassVar[type[PosConfig]] = FlowhubConfig
    rate_limits: ClassVar[RateLimits] = RATE_LIMITS
    order_statuses: ClassVar[Mapping[str, PosOrderStatus]] = ORDER_STATUSES
    webhook_events: ClassVar[Mapping[str, EventKind]] = {POSTBACK: EventKind.ORDER}
    webhook_registration: ClassVar[Registration] = Registration.PER_ORDER
    webhook_instructions: ClassVar[str] = (
        "Nothing to register: Flowhub posts order status changes to the "
        "postbackUrl sent with each order, which is this URL. Flowhub pushes no catalog "
        "changes; the catalog follows on the sync schedule."
    )

    def __init__(self, config: FlowhubConfig, transport: PosTransport, clock: Clock) -> None:
        super().__init__(config, transport, clock)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    async def _call(
        self,
        endpoint: EndpointClass,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        idempotent: bool = True,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        """One request; the envelope's `data` when Flowhub answered success."""
        response = await self.transport.request(
            endpoint,
            method,
            self.url(path),
            idempotent=idempotent,
            headers={"Accept": "application/json", **headers},
            params=params,
            json_body=json_body,
        )
        if not succeeded(response):
            raise failure(response, endpoint, vendor_message(response, _MESSAGE_KEYS))
        body = expect_object(response.json(), "the answer", endpoint)
        if body.get("status") != "success":
            message = body.get("message")
            raise PosRejected(
                message if isinstance(message, str) else f"status {body.get('status')!r}",
                endpoint=endpoint,
                status=response.status,
            )
        return body.get("data")

    def _key_headers(self) -> dict[str, str]:
        return {"clientId": self.config.client_id, "key": self.config.api_key.get_secret_value()}

    async def _access_token(self, *, stale: str | None = None) -> str:
        """A cached bearer token, fetched anew when close to expiry or when `stale` (a token
        the POS just refused) is still the cached one."""
        async with self._token_lock:
            token = self._token
            now = self.clock.now()
            if token is None or now >= token.refresh_at or token.value == stale:
                token = self._token = await self._fetch_token()
            return token.value

    async def _fetch_token(self) -> _Token:
        endpoint = EndpointClass.AUTH
        body = {
            "client_id": self.config.oauth_client_id,
            "client_secret": self.config.oauth_client_secret.get_secret_value(),
            "audience": self.config.audience,
            "grant_type": "client_credentials",
        }
        response = await self.transport.request(
            endpoint, "POST", self.url("/oauth/token"), idempotent=True, json_body=body
        )
        if response.status == 400:  # OAuth's invalid_client / unauthorized_client
            message = vendor_message(response, _MESSAGE_KEYS)
            raise PosAuthFailed(
                f"the OAuth credentials were refused: {message}", endpoint=endpoint, status=400
            )
        if not succeeded(response):
            raise failure(response, endpoint, vendor_message(response, _MESSAGE_KEYS))
        answer = expect_object(response.json(), "the token", endpoint)
        value, life = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(value, str) or not value:
            raise PosProtocolError("the token answer has no access_token", endpoint=endpoint)
        if isinstance(life, bool) or not isinstance(life, int | float) or life <= 0:
            raise PosProtocolError(f"expires_in is not a lifetime: {life!r}", endpoint=endpoint)
        issued = self.clock.now()
        margin = max(TOKEN_MARGIN_S, life * TOKEN_MARGIN_SHARE)
        return _Token(
            value=value,
            refresh_at=issued + timedelta(seconds=max(0.0, life - margin)),
        )

    async def _order_call(
        self,
        endpoint: EndpointClass,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        """An Order Ahead call. A 401 means the token was revoked or expired early: fetch a new
        one and send once more (a refused call did nothing, so resending cannot duplicate)."""
        refused: str | None = None
        while True:
            token = await self._access_token(stale=refused)
            try:
                return await self._call(
                    endpoint,
                    method,
                    path,
                    {"Authorization": f"Bearer {token}"},
                    idempotent=idempotent,
                    params=params,
                    json_body=json_body,
                )
            except PosAuthFailed as exc:
                if exc.status != 401 or refused is not None:
                    raise
                refused = token

    async def verify_credentials(self) -> PosIdentity:
        """Checks both credential sets: the keys (which must cover the configured location)
        and the Order Ahead client, by fetching a token."""
        endpoint = EndpointClass.AUTH
        locations = expect_records(
            await self._call(endpoint, "GET", "/v0/clientsLocations", self._key_headers()),
            "the locations",
            endpoint,
        )
        for location in locations:
            if str(location.get("locationId")) == self.config.location_id:
                break
        else:
            raise PosAuthFailed(
                f"the keys do not cover location {self.config.location_id}", endpoint=endpoint
            )
        await self._access_token(stale=self._token.value if self._token else None)
        name = location.get("locationName")
        return PosIdentity(
            location_id=self.config.location_id,
            location_name=name if isinstance(name, str) else "",
            details={"licenseNumber": location.get("licenseNumber")},
        )

    async def _inventory_rows(self, endpoint: EndpointClass) -> list[Mapping[str, Any]]:
        path = f"/v0/locations/{quote(self.config.location_id, safe='')}/inventory"
        data = await self._call(endpoint, "GET", path, self._key_headers())
        return expect_records(data, "the inventory", endpoint)

    async def fetch_products(self, *, since: datetime | None = None) -> ProductFetch:
        # Flowhub has no changed-since query: an incremental read filters the full list.
        endpoint = EndpointClass.PRODUCTS if since is None else EndpointClass.PRODUCTS_CHANGED
        rows = await self._inventory_rows(endpoint)
        records = group_variant_rows(rows)
        if since is not None:
            start = overlap_start(since, self.cursor_overlap_s)
            records = [record for record in records if _changed_since(record, start)]
        cursor = next_cursor((_updated_at(row) for row in rows), since)
        return ProductFetch(records=records, cursor=cursor, full=since is None)

    async def fetch_inventory(self) -> list[InventoryLevel]:
        endpoint = EndpointClass.INVENTORY
        levels = []
        for row in await self._inventory_rows(endpoint):
            product_id = expect_text_id(row.get("productId"), "productId", endpoint)
            variant_id = expect_text_id(row.get("variantId"), "variantId", endpoint)
            try:
                quantity = fields.stock(row, "quantity") or 0
            except RecordInvalid as exc:
                raise PosProtocolError(
                    f"variant {variant_id}: {exc.reason}", endpoint=endpoint
                ) from None
            levels.append(InventoryLevel(product_id, variant_id, quantity))
        return levels

    def map_product(self, record: Mapping[str, Any]) -> CanonicalProduct:
        return map_flowhub_product(record)

    async def submit_order(self, order: PosOrderRequest) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_SUBMIT
        body: dict[str, Any] = {
            "locationId": self.config.location_id,
            "orderType": "kiosk",
            "externalId": order.reference,
            "customer": {"name": order.customer_name, "phone": order.customer_phone},
            "items": [
                {
                    "productId": item.product_external_id,
                    "variantId": item.variant_external_id,
                    "quantity": item.quantity,
                }
                for item in order.items
            ],
        }
        if order.postback_url:
            body["postbackUrl"] = order.postback_url
        data = await self._order_call(
            endpoint, "POST", "/order-ahead/v0/create", idempotent=False, json_body=body
        )
        return _receipt(data, endpoint, reference=order.reference)

    async def find_order(self, reference: str) -> PosOrderReceipt | None:
        endpoint = EndpointClass.ORDER_LOOKUP
        data = await self._order_call(
            endpoint, "GET", "/order-ahead/v0/orders", params={"externalId": reference}
        )
        orders = [
            order
            for order in expect_records(data, "the orders", endpoint)
            if order.get("externalId") == reference
        ]
        return _receipt(orders[0], endpoint) if orders else None

    async def order_status(self, pos_order_id: str) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_STATUS
        path = f"/order-ahead/v0/orderStatus/{quote(pos_order_id, safe='')}"
        return _receipt(await self._order_call(endpoint, "GET", path), endpoint)

    async def cancel_order(self, pos_order_id: str) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_CANCEL
        path = f"/order-ahead/v0/orders/{quote(pos_order_id, safe='')}"
        return _receipt(await self._order_call(endpoint, "DELETE", path), endpoint)

    # --- order postbacks: `{"orderId", "externalId", "status", "updatedAt"}` ---

    @classmethod
    def read_event(cls, body: Mapping[str, Any]) -> PosEventIn:
        # A postback has no id of its own: one order reaches one status once, so the two name it
        # (a redelivery of the same postback is a duplicate; the next status is a new event).
        order_id, status = event_text(body, "orderId"), event_text(body, "status")
        return PosEventIn(POSTBACK, event_id(f"{order_id}:{status}"), EventKind.ORDER)

    @classmethod
    def read_order_update(cls, payload: Mapping[str, Any]) -> OrderUpdate | None:
        return order_update(
            payload, cls.status_of, pos_order_id="orderId", reference="externalId", status="status"
        )


def _updated_at(row: Mapping[str, Any]) -> datetime | None:
    value = row.get("productUpdatedAt")
    return fields.parse_iso(value) if isinstance(value, str) else None


def _changed_since(record: Mapping[str, Any], start: datetime) -> bool:
    """A product is kept whole when any of its rows changed (its variants travel together);
    rows without a readable time are kept, since re-reading a product is harmless."""
    for row in record["variants"]:
        moment = _updated_at(row)
        if moment is None or moment >= start:
            return True
    return False


def _receipt(
    data: object, endpoint: EndpointClass, *, reference: str | None = None
) -> PosOrderReceipt:
    order = expect_object(data, "the order", endpoint)
    vendor_status = order.get("status")
    status = ORDER_STATUSES.get(vendor_status) if isinstance(vendor_status, str) else None
    if status is None or not isinstance(vendor_status, str):
        raise PosProtocolError(f"unknown order status {vendor_status!r}", endpoint=endpoint)
    external = order.get("externalId")
    return PosOrderReceipt(
        pos_order_id=expect_text_id(order.get("orderId"), "orderId", endpoint),
        status=status,
        vendor_status=vendor_status,
        reference=external if isinstance(external, str) else reference,
    )
