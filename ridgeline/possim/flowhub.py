"""Flowhub, as docs/pos/flowhub.md describes it: `clientId` + `key` headers for locations and
inventory (one response, a row per variant), OAuth2 client credentials for Order Ahead, postbacks
on every order status change, and RateLimit-* headers on every answer."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

from ridgeline.possim.credentials import FLOWHUB_AUDIENCE
from ridgeline.possim.faults import EndpointClass, RecordList
from ridgeline.possim.gateway import (
    Call,
    DialectError,
    DialectRoute,
    DialectSpec,
    RateOutcome,
    SimRequest,
    SimResponse,
    retry_after_header,
)
from ridgeline.possim.model import Category, Dialect, Order, PotencyUnit, Product, iso_ms
from ridgeline.possim.orders import move_order, parse_items, price_lines, take_stock
from ridgeline.possim.pushes import Push
from ridgeline.possim.state import Simulator, Store

CATEGORY_NAMES: dict[Category, tuple[str, ...]] = {
    Category.FLOWER: ("Flower",),
    Category.PRE_ROLL: ("Pre-Rolls",),
    Category.VAPE: ("Vapes", "Cartridges"),
    Category.CONCENTRATE: ("Concentrates",),
    Category.EDIBLE: ("Edibles",),
    Category.BEVERAGE: ("Beverages",),
    Category.TINCTURE: ("Tinctures",),
    Category.TOPICAL: ("Topicals",),
    Category.CAPSULE: ("Capsules",),
    Category.ACCESSORY: ("Accessories",),
    Category.OTHER: ("Clones", "Seeds"),
}
ORDER_TYPES = ("kiosk", "pickup", "delivery")
OAUTH_ERRORS = frozenset({"invalid_client", "unsupported_grant_type", "access_denied"})
FINISHED = ("delivered", "sold")


def _cannabinoids(product: Product) -> list[dict[str, Any]]:
    if product.potency_unit is None:
        return []
    unit = product.potency_unit.value
    found = []
    for name, value in (("THC", product.thc), ("CBD", product.cbd)):
        if value is None:
            continue
        # Lab results come as a range; percentages spread a little, milligram doses do not.
        lower = round(value * 0.92, 1) if product.potency_unit is PotencyUnit.PERCENT else value
        found.append(
            {"name": name, "lowerRange": lower, "upperRange": value, "unitOfMeasure": unit}
        )
    return found


def inventory_rows(product: Product) -> list[dict[str, Any]]:
    """One row per variant; the variants of a product draw on one stock pool."""
    names = CATEGORY_NAMES[product.category]
    weighed = product.sold_by_weight
    return [
        {
            "productId": product.product_id,
            "variantId": variant.variant_id,
            "sku": product.sku if n == 0 else f"{product.sku}-{n}",
            "productName": product.name,
            "brand": product.brand,
            "category": names[product.category_pick % len(names)],
            "speciesName": product.strain_type.value if product.strain_type else None,
            "strainName": product.strain,
            "cannabinoidInformation": _cannabinoids(product),
            "priceInMinorUnits": variant.price_cents,
            "productWeight": variant.grams if weighed and variant.grams else 1,
            "productUnitOfMeasure": "g" if weighed and variant.grams else "ea",
            "quantity": product.quantity,
            "productUpdatedAt": iso_ms(product.updated_at),
        }
        for n, variant in enumerate(product.variants)
    ]


def render_order(store: Store, order: Order) -> dict[str, Any]:
    return {
        "orderId": order.order_id,
        "externalId": order.reference,
        "status": order.status,
        "locationId": store.identity.external_id,
        "orderType": order.order_type,
        "customer": order.customer,
        "items": [
            {
                "productId": line.product_id,
                "variantId": line.variant_id,
                "productName": line.name,
                "quantity": line.quantity,
                "priceInMinorUnits": line.price_cents,
            }
            for line in order.lines
        ],
        "totalInMinorUnits": order.total_cents,
        "createdAt": iso_ms(order.created_at),
        "updatedAt": iso_ms(order.updated_at),
    }


def _success(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def _form(request: SimRequest) -> dict[str, Any]:
    """The token request: JSON as documented, or the form encoding OAuth2 servers also accept."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(request.body.decode("latin-1")))
    return request.json_object()


def _oauth_error(status: int, error: str, description: str) -> DialectError:
    return DialectError(status, description, reason=error)


async def issue_token(call: Call) -> SimResponse:
    token = call.simulator.issue_token(call.store)
    return SimResponse(
        body={
            "access_token": token.token,
            "token_type": "Bearer",
            "expires_in": call.store.token_ttl_s,
            "scope": "order-ahead",
        }
    )


async def clients_locations(call: Call) -> SimResponse:
    identity = call.store.identity
    return SimResponse(
        body=_success(
            [
                {
                    "locationId": identity.external_id,
                    "locationName": call.store.name,
                    "licenseNumber": identity.license_number,
                }
            ]
        )
    )


def _location(call: Call) -> None:
    if call.request.params["location_id"] != call.store.identity.external_id:
        raise DialectError(403, "This client has no access to that location")


def _inventory(call: Call, *, non_zero: bool) -> SimResponse:
    _location(call)
    records = [
        row
        for p in call.store.products.values()
        if p.active and (p.quantity > 0 or not non_zero)
        for row in inventory_rows(p)
    ]
    return SimResponse(
        records=RecordList(
            records, _success, ("productId",), ("productName",), price_path=("priceInMinorUnits",)
        )
    )


async def inventory(call: Call) -> SimResponse:
    return _inventory(call, non_zero=False)


async def inventory_non_zero(call: Call) -> SimResponse:
    return _inventory(call, non_zero=True)


async def create_order(call: Call) -> SimResponse:
    body = call.request.json_object()
    store = call.store
    reference = body.get("externalId")
    if reference is not None and not isinstance(reference, str):
        raise DialectError(400, "externalId must be a string")
    if reference:
        store.create_requests[reference] += 1
    if body.get("locationId") != store.identity.external_id:
        raise DialectError(400, "locationId does not match this client's location")
    order_type = body.get("orderType")
    if order_type not in ORDER_TYPES:
        raise DialectError(400, f"orderType must be one of {', '.join(ORDER_TYPES)}")
    postback = body.get("postbackUrl")
    if postback is not None and not (
        isinstance(postback, str) and postback.startswith(("http://", "https://"))
    ):
        raise DialectError(400, "postbackUrl must be an http(s) URL")
    items = parse_items(body.get("items"), id_key="productId", variant_key="variantId")
    lines = price_lines(store.products, items)
    now = call.now
    order = Order(
        order_id=str(uuid.uuid4()),
        number=store.next_order_number(),
        reference=reference or None,
        idempotency_key=None,
        lines=lines,
        status="new",
        created_at=now,
        updated_at=now,
        customer=body.get("customer") if isinstance(body.get("customer"), dict) else None,
        postback_url=postback,
        order_type=order_type,
        history=[("new", now)],
    )
    take_stock(store.products, order, now)
    store.orders[order.order_id] = order
    return SimResponse(
        body=_success({"orderId": order.order_id, "externalId": order.reference, "status": "new"})
    )


async def find_orders(call: Call) -> SimResponse:
    reference = call.request.query.get("externalId")
    store = call.store
    orders = store.orders_by_reference(reference) if reference else list(store.orders.values())
    return SimResponse(body=_success([render_order(store, o) for o in orders]))


def _order(call: Call) -> Order:
    order = call.store.orders.get(call.request.params["order_id"])
    if order is None:
        raise DialectError(404, "Order not found")
    return order


async def order_status(call: Call) -> SimResponse:
    order = _order(call)
    return SimResponse(body=_success({"orderId": order.order_id, "status": order.status}))


async def delete_order(call: Call) -> SimResponse:
    order = _order(call)
    if order.status in FINISHED:
        raise DialectError(400, f"Order is {order.status} and cannot be deleted")
    if order.status != "deleted":
        move_order(Dialect.FLOWHUB, call.store.products, order, "deleted", call.now)
        call.push(FlowhubSpec.postbacks(order))
    return SimResponse(body=_success(render_order(call.store, order)))


class FlowhubSpec(DialectSpec):
    dialect = Dialect.FLOWHUB
    prefix = "/flowhub"

    def __init__(self) -> None:
        e = EndpointClass
        catalog = frozenset({e.PRODUCTS_CHANGED, e.INVENTORY})
        self._routes = [
            DialectRoute("POST", "/oauth/token", e.AUTH, issue_token),
            DialectRoute("GET", "/v0/clientsLocations", e.AUTH, clients_locations),
            DialectRoute(
                "GET", "/v0/locations/{location_id}/inventory", e.PRODUCTS, inventory, also=catalog
            ),
            DialectRoute(
                "GET",
                "/v0/locations/{location_id}/inventoryNonZero",
                e.INVENTORY,
                inventory_non_zero,
            ),
            DialectRoute("POST", "/order-ahead/v0/create", e.ORDER_SUBMIT, create_order),
            DialectRoute("GET", "/order-ahead/v0/orders", e.ORDER_LOOKUP, find_orders),
            DialectRoute(
                "GET", "/order-ahead/v0/orderStatus/{order_id}", e.ORDER_STATUS, order_status
            ),
            DialectRoute(
                "DELETE", "/order-ahead/v0/orders/{order_id}", e.ORDER_CANCEL, delete_order
            ),
        ]

    @property
    def routes(self) -> list[DialectRoute]:
        return self._routes

    def identify(self, request: SimRequest, simulator: Simulator) -> Store | None:
        if request.path.rstrip("/") == "/oauth/token":
            client_id = _form(request).get("client_id")
            store = simulator.find_store(Dialect.FLOWHUB, f"oauth:{client_id}")
            if store is None:
                raise _oauth_error(401, "invalid_client", "Unknown client")
            return store
        if request.path.startswith("/order-ahead/"):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return simulator.store_for_token(token.strip())
        return simulator.find_store(Dialect.FLOWHUB, request.headers.get("clientid", ""))

    def authenticate(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> None:
        identity = store.identity
        if route.pattern == "/oauth/token":
            form = _form(request)
            if form.get("grant_type") != "client_credentials":
                raise _oauth_error(400, "unsupported_grant_type", "Use client_credentials")
            if form.get("client_secret") != identity.oauth_client_secret:
                raise _oauth_error(401, "invalid_client", "Wrong client credentials")
            if form.get("audience") != FLOWHUB_AUDIENCE:
                raise _oauth_error(403, "access_denied", "Service not found for this audience")
        elif not route.pattern.startswith("/order-ahead/") and (
            request.headers.get("key") != identity.api_key
        ):
            raise DialectError(401, "Invalid clientId or key")

    def error(self, status: int, message: str, reason: str | None = None) -> SimResponse:
        if reason in OAUTH_ERRORS:  # the token endpoint answers in the RFC 6749 shape
            return SimResponse(status=status, body={"error": reason, "error_description": message})
        return SimResponse(status=status, body={"status": "error", "message": message})

    def unauthorized(self) -> SimResponse:
        return self.error(401, "Invalid or expired credentials")

    def forbidden(self) -> SimResponse:
        return self.error(403, "These credentials may not access this resource")

    def rate_limit(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> RateOutcome:
        decision = simulator.limiter.hit(
            f"flowhub:{store.id}", limit=store.rate_limit_per_s, window_s=1
        )
        headers = {
            "ratelimit-limit": str(decision.limit),
            "ratelimit-remaining": str(decision.remaining),
            "ratelimit-reset": str(decision.reset_s),
        }
        if decision.allowed:
            return RateOutcome(None, headers)
        refusal = self.rate_limited(decision.reset_s)
        return RateOutcome(refusal, headers)

    def rate_limited(self, retry_after_s: float | None) -> SimResponse:
        response = self.error(429, "Too many requests")
        response.headers.update(retry_after_header(retry_after_s))
        return response

    def order_pushes(self, store: Store, order: Order, *, created: bool) -> list[Push]:
        return [] if created else self.postbacks(order)

    @staticmethod
    def postbacks(order: Order) -> list[Push]:
        if not order.postback_url:
            return []
        body = {
            "orderId": order.order_id,
            "externalId": order.reference,
            "status": order.status,
            "updatedAt": iso_ms(order.updated_at),
        }
        return [Push(order.postback_url, order.status, body)]
