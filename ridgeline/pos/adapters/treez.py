"""Treez API v3 (docs/pos/treez.md): a fresh RS256 JWT on every request, path paging without a
total, and tickets that carry our reference because Treez has no idempotency key."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pydantic import Field, SecretStr, field_validator

from ridgeline.clock import Clock
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
    expect_object,
    expect_records,
    expect_text_id,
    failure,
    iso_z,
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
    PosTransport,
    ProductFetch,
    Registration,
)
from ridgeline.pos.canonical import (
    CanonicalProduct,
    CanonicalVariant,
    Category,
    PotencyUnit,
    weight_in_grams,
    weight_label,
)
from ridgeline.pos.capabilities import OrderLookup, PosAdapter, WebhookSource
from ridgeline.pos.errors import (
    PosAuthFailed,
    PosNotFound,
    PosProtocolError,
    PosRejected,
    RecordInvalid,
)
from ridgeline.resilience.rate_limit import RateLimit, RateLimits

PAGE_SIZE = 500  # the most Treez serves in one page
TOKEN_LIFETIME_MS = 30_000

CATEGORIES = fields.category_table(
    {
        "FLOWER": Category.FLOWER,
        "PREROLL": Category.PRE_ROLL,
        "CARTRIDGE": Category.VAPE,
        "EXTRACT": Category.CONCENTRATE,
        "EDIBLE": Category.EDIBLE,
        "BEVERAGE": Category.BEVERAGE,
        "TINCTURE": Category.TINCTURE,
        "TOPICAL": Category.TOPICAL,
        "PILL": Category.CAPSULE,
        "MERCH": Category.ACCESSORY,
    }
)

ORDER_STATUSES: Mapping[str, PosOrderStatus] = {
    "AWAITING_PROCESSING": PosOrderStatus.ACCEPTED,
    "IN_PROGRESS": PosOrderStatus.ACCEPTED,
    "PACKED_READY": PosOrderStatus.READY,
    "OUT_FOR_DELIVERY": PosOrderStatus.READY,
    "COMPLETED": PosOrderStatus.COMPLETED,
    "CANCELED": PosOrderStatus.CANCELLED,
}

# What Treez pushes to the URL entered in its portal: product changes and tickets (orders).
WEBHOOK_EVENTS: Mapping[str, EventKind] = {"PRODUCT": EventKind.PRODUCT, "TICKET": EventKind.ORDER}

# No published limits (doc); the simulator allows 50 requests/s per dispensary with 429 +
# Retry-After beyond (assumed), counted over all endpoints. We keep to 40/s.
RATE_LIMITS = RateLimits(
    vendor="treez", buckets={"default": RateLimit.within(50, 1.0, headroom=0.8)}
)

# uom -> (the unit our weight helpers know, or None for items sold by the piece)
_UNITS: Mapping[str, str | None] = {"GRAMS": "g", "MILLIGRAMS": "mg", "EACH": None}

_MESSAGE_KEYS = ("resultReason", "message", "Message")


@functools.lru_cache(maxsize=256)
def load_rsa_private_key(pem: str) -> RSAPrivateKey:
    """The partner's key from PEM (unencrypted PKCS#1 or PKCS#8); `ValueError` if it is not
    an RSA private key of at least 2048 bits.

    Kept per PEM: loading one runs OpenSSL's key checks (about 40 ms of CPU on the event loop),
    and a store's config is read, and its adapter built, for every job that calls its POS."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("private_key_pem is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("private_key_pem must be an RSA key (Treez signs with RS256)")
    if key.key_size < 2048:
        raise ValueError("private_key_pem must be an RSA key of at least 2048 bits")
    return key


class TreezConfig(PosConfig):
    base_url: str = Field(
        default="https://api-prod.treez.io", pattern=r"^https?://[^\s]+$", max_length=500
    )
    dispensary: str = Field(
        # A subdomain label, leniently (some slugs carry a dot); never a path of its own.
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=100,
        description="The store's Treez subdomain.",
    )
    certificate_id: str = Field(min_length=1, max_length=200, description="The JWT `iss`.")
    organization_id: str = Field(min_length=1, max_length=200, description="The JWT `oid`.")
    private_key_pem: SecretStr

    @field_validator("private_key_pem")
    @classmethod
    def _rsa_key(cls, value: SecretStr) -> SecretStr:
        load_rsa_private_key(value.get_secret_value())
        return value


@fields.guarded
def map_treez_product(record: Mapping[str, Any]) -> CanonicalProduct:
    product_id = fields.identifier(record, "product_id")
    details = fields.section(record, "product_configurable_fields")
    pricing = fields.section(record, "pricing")
    shop = fields.section(record, "e_commerce")
    name = fields.required_text(details, "name", container=record)
    amount = fields.optional_number(details, "amount", container=record)
    uom = fields.optional_text(details, "uom", container=record)
    unit = _UNITS.get(uom.upper()) if uom else None
    variant = CanonicalVariant(
        external_id=product_id,
        label=weight_label(None if amount is None else float(amount), unit),
        weight_grams=None if amount is None else weight_in_grams(float(amount), unit),
        price_cents=fields.price_cents(pricing, "price_sell", container=record),
        quantity_available=fields.stock(record, "sellable_quantity"),
    )
    category_type = fields.optional_text(record, "category_type")
    status = fields.optional_text(record, "product_status")
    image = fields.optional_text(shop, "primary_image", container=record)
    hidden = fields.optional_flag(shop, "hide_from_menu", False, container=record)
    return CanonicalProduct(
        external_id=product_id,
        name=name,
        brand=fields.optional_text(details, "brand", container=record) or "",
        category=fields.category(CATEGORIES, category_type),
        vendor_category=category_type,
        strain_type=fields.strain_type(details.get("classification")),
        thc=fields.potency(
            fields.optional_number(details, "total_mg_thc", container=record),
            PotencyUnit.MG,
        ),
        cbd=fields.potency(
            fields.optional_number(details, "total_mg_cbd", container=record),
            PotencyUnit.MG,
        ),
        variants=[variant],
        is_active=(status is None or status.upper() == "ACTIVE") and not hidden,
        image_urls=[image] if image else [],
        pos_updated_at=fields.timestamp(record, "last_updated_at"),
    )


class TreezAdapter(PosAdapter[TreezConfig], OrderLookup, WebhookSource):
    name: ClassVar[str] = "treez"
    display_name: ClassVar[str] = "Treez"
    config_model: ClassVar[type[PosConfig]] = TreezConfig
    rate_limits: ClassVar[RateLimits] = RATE_LIMITS
    order_statuses: ClassVar[Mapping[str, PosOrderStatus]] = ORDER_STATUSES
    webhook_events: ClassVar[Mapping[str, EventKind]] = WEBHOOK_EVENTS
    webhook_registration: ClassVar[Registration] = Registration.VENDOR_PORTAL
    webhook_instructions: ClassVar[str] = (
        "Treez has no API to register webhooks: enter this URL for product "
        "and ticket events in the Treez portal (or ask Treez support to)."
    )

    def __init__(self, config: TreezConfig, transport: PosTransport, clock: Clock) -> None:
        super().__init__(config, transport, clock)
        self._key = load_rsa_private_key(config.private_key_pem.get_secret_value())

    def _address(self, path: str, query: Mapping[str, str] | None = None) -> str:
        """The full URL exactly as it goes on the wire: the token's `aud` must match it, query
        string included, so the query is encoded here rather than left to the HTTP client."""
        dispensary = quote(self.config.dispensary, safe="")
        address = self.url(f"/dispensary/v3/{dispensary}{path}")
        return f"{address}?{urlencode(query)}" if query else address

    def _token(self, audience: str) -> str:
        issued = epoch_millis(self.clock.now())
        claims = {
            "aud": audience,
            "iss": self.config.certificate_id,
            "oid": self.config.organization_id,
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME_MS,
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    async def _call(
        self,
        endpoint: EndpointClass,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        query: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Any:
        """One request; the envelope's `data` when Treez answered SUCCESS."""
        address = self._address(path, query)
        response = await self.transport.request(
            endpoint,
            method,
            address,
            idempotent=idempotent,
            # Signed per attempt: a retry after the 30-second window needs a fresh token.
            headers=lambda: {
                "Authorization": f"Bearer {self._token(address)}",
                "Accept": "application/json",
            },
            json_body=json_body,
        )
        if not succeeded(response):
            reason = vendor_message(response, _MESSAGE_KEYS)
            if response.status == 400 and reason == "JWT_EXPIRED":
                # Our clock and Treez's disagree by more than the token's window.
                raise PosAuthFailed(
                    "Treez refused the token's time window (JWT_EXPIRED): check the clock",
                    endpoint=endpoint,
                    status=400,
                )
            raise failure(response, endpoint, reason)
        body = expect_object(response.json(), "the answer", endpoint)
        if body.get("resultCode") != "SUCCESS":
            if body.get("resultCode") == "FAIL":
                refusal = vendor_message(response, _MESSAGE_KEYS)
                raise PosRejected(refusal, endpoint=endpoint, status=response.status)
            raise PosProtocolError(
                f"unexpected resultCode {body.get('resultCode')!r}", endpoint=endpoint
            )
        return body.get("data")

    async def verify_credentials(self) -> PosIdentity:
        endpoint = EndpointClass.AUTH
        data = expect_object(await self._call(endpoint, "GET", "/config/store"), "store", endpoint)
        name = data.get("name")
        return PosIdentity(
            location_id=expect_text_id(data.get("dispensary"), "dispensary", endpoint),
            location_name=name if isinstance(name, str) else "",
        )

    async def _product_list(self, endpoint: EndpointClass, prefix: str) -> list[Mapping[str, Any]]:
        """Every page of a product listing: pages of 500 until a short one."""
        collected = CatalogPages("product_id", endpoint, paged=True)
        page = 1
        while True:
            data = expect_object(
                await self._call(endpoint, "GET", f"{prefix}/page/{page}/pagesize/{PAGE_SIZE}"),
                "the product page",
                endpoint,
            )
            records = expect_records(data.get("product_list"), "product_list", endpoint)
            collected.add_page(records)
            if len(records) < PAGE_SIZE:
                return collected.records
            page += 1

    async def fetch_products(self, *, since: datetime | None = None) -> ProductFetch:
        if since is None:
            records = await self._product_list(EndpointClass.PRODUCTS, "/product/list")
        else:
            start = iso_z(overlap_start(since, self.cursor_overlap_s))
            records = await self._product_list(
                EndpointClass.PRODUCTS_CHANGED, f"/product/list/lastUpdated/after/{start}"
            )
        cursor = next_cursor((_modified_at(record) for record in records), since)
        return ProductFetch(records=records, cursor=cursor, full=since is None)

    async def fetch_inventory(self) -> list[InventoryLevel]:
        # A stock change does not touch last_updated_at, so stock comes from the full list.
        endpoint = EndpointClass.INVENTORY
        levels = []
        for record in await self._product_list(endpoint, "/product/list"):
            product_id = expect_text_id(record.get("product_id"), "product_id", endpoint)
            try:
                quantity = fields.stock(record, "sellable_quantity") or 0
            except RecordInvalid as exc:
                raise PosProtocolError(
                    f"product {product_id}: {exc.reason}", endpoint=endpoint
                ) from None
            levels.append(InventoryLevel(product_id, None, quantity))
        return levels

    def map_product(self, record: Mapping[str, Any]) -> CanonicalProduct:
        return map_treez_product(record)

    async def submit_order(self, order: PosOrderRequest) -> PosOrderReceipt:
        endpoint = EndpointClass.ORDER_SUBMIT
        body = {
            "type": "PICKUP",
            "order_source": "KIOSK",
            "external_order_number": order.reference,
            "customer": {"name": order.customer_name, "phone": order.customer_phone},
            "items": [
                {"product_id": item.product_external_id, "quantity": item.quantity}
                for item in order.items
            ],
            "notes": order.notes or "",
        }
        # Not idempotent: a lost answer is recovered with find_order, never by resending.
        data = await self._call(
            endpoint, "POST", "/ticket/detailticket", idempotent=False, json_body=body
        )
        return _receipt(data, endpoint)

    async def find_order(self, reference: str) -> PosOrderReceipt | None:
        tickets = await self._tickets(
            EndpointClass.ORDER_LOOKUP, f"/ticket/externalordernumber/{quote(reference, safe='')}"
        )
        # Only tickets that really carry the reference, whatever the POS's lookup matched.
        tickets = [ticket for ticket in tickets if ticket.get("external_order_number") == reference]
        return _receipt(tickets[0], EndpointClass.ORDER_LOOKUP) if tickets else None

    async def order_status(self, pos_order_id: str) -> PosOrderReceipt:
        return _receipt(
            await self._ticket(EndpointClass.ORDER_STATUS, pos_order_id), EndpointClass.ORDER_STATUS
        )

    async def cancel_order(self, pos_order_id: str) -> PosOrderReceipt:
        # Orders are known by order number; cancelling needs the ticket id behind it.
        ticket = await self._ticket(EndpointClass.ORDER_LOOKUP, pos_order_id)
        endpoint = EndpointClass.ORDER_CANCEL
        ticket_id = expect_text_id(ticket.get("ticket_id"), "ticket_id", endpoint)
        data = await self._call(endpoint, "POST", f"/ticket/{quote(ticket_id, safe='')}/cancel")
        return _receipt(data, endpoint)

    # --- pushed events: `{"event_type", "event_id", "data": <product or ticket>}` ---

    @classmethod
    def read_event(cls, body: Mapping[str, Any]) -> PosEventIn:
        event_type = event_text(body, "event_type")
        return PosEventIn(
            event_type=event_type,
            event_id=event_id(event_text(body, "event_id")),
            kind=event_kind(WEBHOOK_EVENTS, "event_type", event_type),
        )

    @classmethod
    def read_order_update(cls, payload: Mapping[str, Any]) -> OrderUpdate | None:
        return order_update(
            data_section(payload),
            cls.status_of,
            pos_order_id="order_number",
            reference="external_order_number",
            status="order_status",
        )

    async def _ticket(self, endpoint: EndpointClass, order_number: str) -> Mapping[str, Any]:
        tickets = await self._tickets(
            endpoint, f"/ticket/ordernumber/{quote(order_number, safe='')}"
        )
        if not tickets:
            raise PosNotFound(f"Treez has no ticket {order_number}", endpoint=endpoint, status=404)
        return tickets[0]

    async def _tickets(self, endpoint: EndpointClass, path: str) -> list[Mapping[str, Any]]:
        try:
            data = await self._call(endpoint, "GET", path)
        except PosNotFound:
            return []
        # The lookups answer a list; tolerate a single ticket too.
        return (
            [data] if isinstance(data, Mapping) else expect_records(data, "the tickets", endpoint)
        )


def _modified_at(record: Mapping[str, Any]) -> datetime | None:
    value = record.get("last_updated_at")
    return fields.parse_iso(value) if isinstance(value, str) else None


def _receipt(data: object, endpoint: EndpointClass) -> PosOrderReceipt:
    ticket = expect_object(data, "the ticket", endpoint)
    vendor_status = ticket.get("order_status")
    status = ORDER_STATUSES.get(vendor_status) if isinstance(vendor_status, str) else None
    if status is None or not isinstance(vendor_status, str):
        raise PosProtocolError(f"unknown ticket status {vendor_status!r}", endpoint=endpoint)
    reference = ticket.get("external_order_number")
    return PosOrderReceipt(
        pos_order_id=expect_text_id(ticket.get("order_number"), "order_number", endpoint),
        status=status,
        vendor_status=vendor_status,
        reference=reference if isinstance(reference, str) else None,
        total_cents=order_total_cents(ticket, "total", in_dollars=True),
    )
