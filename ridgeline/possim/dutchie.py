"""Dutchie POS, as docs/pos/dutchie.md describes it: Basic auth with the location key, the whole
catalog in one array, inventory without zero-stock rows, preorders deduped on `idempotencyKey`,
and per-key, per-endpoint limits per fixed minute."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

from ridgeline.possim.faults import EndpointClass, RecordList
from ridgeline.possim.gateway import (
    Call,
    DialectError,
    DialectRoute,
    DialectSpec,
    RateOutcome,
    SimRequest,
    SimResponse,
    dollars,
    retry_after_header,
)
from ridgeline.possim.model import Category, Dialect, Order, Product, iso_ms, parse_iso
from ridgeline.possim.orders import move_order, parse_items, price_lines, take_stock
from ridgeline.possim.state import Simulator, Store

MASTER_CATEGORIES: dict[Category, tuple[str, ...]] = {
    Category.FLOWER: ("Flower",),
    Category.PRE_ROLL: ("Pre-Rolls",),
    Category.VAPE: ("Vaporizers",),
    Category.CONCENTRATE: ("Concentrates",),
    Category.EDIBLE: ("Edibles",),
    Category.BEVERAGE: ("Beverages",),
    Category.TINCTURE: ("Tinctures",),
    Category.TOPICAL: ("Topicals",),
    Category.CAPSULE: ("Capsules",),
    Category.ACCESSORY: ("Accessories",),
    Category.OTHER: ("Clones", "Seeds"),
}
DENIED = "Authorization has been denied for this request."
BASELINE_LIMIT = 120
LIMITS = {"/whoami": 200, "/inventory": 200}
PREORDER_LIMIT = 240
OUR_REFERENCE = re.compile(r"\bRL-[A-Z0-9]{10}\b")
_SCOPE_FOR: dict[EndpointClass, str] = {
    EndpointClass.PRODUCTS: "Products",
    EndpointClass.PRODUCTS_CHANGED: "Products",
    EndpointClass.INVENTORY: "Inventory",
    EndpointClass.ORDER_SUBMIT: "PreOrder",
    EndpointClass.ORDER_STATUS: "PreOrder",
    EndpointClass.ORDER_CANCEL: "PreOrder",
}


def render_product(product: Product) -> dict[str, Any]:
    variant = product.primary
    unit = product.potency_unit.value if product.potency_unit else None
    names = MASTER_CATEGORIES[product.category]
    return {
        "productId": int(product.product_id),
        "sku": product.sku,
        "productName": product.name,
        "onlineTitle": f"{product.name} | {product.brand}",
        "masterCategory": names[product.category_pick % len(names)],
        "category": product.subcategory,
        "brandName": product.brand,
        "strain": product.strain,
        "strainType": product.strain_type.value if product.strain_type else None,
        "thcContent": product.thc,
        "thcContentUnit": unit if product.thc is not None else None,
        "cbdContent": product.cbd,
        "cbdContentUnit": unit if product.cbd is not None else None,
        "price": dollars(variant.price_cents),
        "recPrice": None if product.medical_only else dollars(variant.price_cents),
        "medPrice": dollars(round(variant.price_cents * 0.9)),
        "netWeight": variant.grams,
        "netWeightUnit": "g" if variant.grams is not None else None,
        "unitType": "Weight" if product.sold_by_weight else "Unit",
        "isActive": product.active,
        "onlineAvailable": product.online,
        "isMedicalOnly": product.medical_only,
        "imageUrl": product.image_url,
        "tags": list(product.tags),
        "lastModifiedDateUTC": iso_ms(product.updated_at),
    }


def inventory_rows(product: Product) -> list[dict[str, Any]]:
    """Stock on hand; some products sit in two batches (two rows), zero stock has no row."""
    if product.quantity <= 0:
        return []
    split = product.number % 5 == 0 and product.quantity >= 2
    amounts = (
        [product.quantity // 2, product.quantity - product.quantity // 2]
        if split
        else [product.quantity]
    )
    return [
        {
            "productId": int(product.product_id),
            "sku": product.sku,
            "quantityAvailable": amount,
            "quantityUnits": "Each",
            "batchId": f"{product.batch_id}{'-' + str(n + 1) if split else ''}",
            "packageId": product.package_id[:-1] + str(n) if split else product.package_id,
        }
        for n, amount in enumerate(amounts)
    ]


def _preorder(order: Order) -> dict[str, Any]:
    return {"PreOrderId": int(order.order_id), "Status": order.status}


async def whoami(call: Call) -> SimResponse:
    store = call.store
    return SimResponse(
        body={
            "LocationId": store.identity.location_id,
            "LocationName": store.name,
            "LicenseNumber": store.identity.license_number,
            "Scopes": [s for s in ("Products", "Inventory", "PreOrder") if s in store.scopes],
        }
    )


async def list_products(call: Call) -> SimResponse:
    request = call.request
    since_text = _query(request, "fromLastModifiedDateUTC")
    since = None
    if since_text:
        try:
            since = parse_iso(since_text)
        except ValueError:
            raise DialectError(
                400, f"The value '{since_text}' is not valid for fromLastModifiedDateUTC."
            ) from None
    active_text = (_query(request, "isActive") or "").lower()
    if active_text not in ("", "true", "false"):
        raise DialectError(400, f"The value '{active_text}' is not valid for isActive.")
    active = None if not active_text else active_text == "true"
    records = [
        render_product(p)
        for p in call.store.products.values()
        if (since is None or p.updated_at >= since) and (active is None or p.active == active)
    ]
    return SimResponse(
        records=RecordList(
            records, lambda r: r, ("productId",), ("productName",), price_path=("price",)
        )
    )


async def list_inventory(call: Call) -> SimResponse:
    records = [row for p in call.store.products.values() for row in inventory_rows(p)]
    return SimResponse(
        records=RecordList(records, lambda r: r, ("productId",), ("sku",), price_path=None)
    )


async def submit_preorder(call: Call) -> SimResponse:
    body = call.request.json_object()
    store = call.store
    key = body.get("idempotencyKey")
    if key is not None and not isinstance(key, str):
        raise DialectError(400, "idempotencyKey must be a string.")
    if key:
        store.create_requests[key] += 1
        existing = next((o for o in store.orders.values() if o.idempotency_key == key), None)
        if existing is not None:
            return SimResponse(body={**_preorder(existing), "IdempotencyKey": key})
    lines = price_lines(store.products, parse_items(body.get("items"), id_key="productId"))
    notes = body.get("notes") if isinstance(body.get("notes"), str) else None
    reference = OUR_REFERENCE.search(notes or "")
    number = store.next_order_number()
    now = call.now
    order = Order(
        order_id=str(number),
        number=number,
        reference=reference.group(0) if reference else None,
        idempotency_key=key or None,
        lines=lines,
        status="Submitted",
        created_at=now,
        updated_at=now,
        customer={"customerId": body.get("customerId")},
        notes=notes,
        order_type=str(body.get("orderType") or "Pickup"),
        history=[("Submitted", now)],
    )
    take_stock(store.products, order, now)
    store.orders[order.order_id] = order
    return SimResponse(body={**_preorder(order), "IdempotencyKey": key})


def _find_preorder(store: Store, raw: object) -> Order:
    try:
        order_id = str(int(str(raw)))
    except ValueError:
        raise DialectError(400, "PreOrderId is required and must be an integer.") from None
    order = store.orders.get(order_id)
    if order is None:
        raise DialectError(404, f"PreOrder {order_id} was not found.")
    return order


async def preorder_status(call: Call) -> SimResponse:
    order = _find_preorder(call.store, _query(call.request, "PreOrderId"))
    return SimResponse(body={**_preorder(order), "LastModifiedDateUTC": iso_ms(order.updated_at)})


async def cancel_preorder(call: Call) -> SimResponse:
    body = call.request.json_object()
    order = _find_preorder(call.store, body.get("PreOrderId"))
    if order.status == "Complete":
        raise DialectError(400, f"PreOrder {order.order_id} is Complete and cannot be cancelled.")
    if order.status != "Cancelled":
        move_order(Dialect.DUTCHIE, call.store.products, order, "Cancelled", call.now)
    return SimResponse(body=_preorder(order))


def _query(request: SimRequest, name: str) -> str | None:
    """Query parameters bind case-insensitively, as in the ASP.NET service."""
    lowered = name.lower()
    return next((v for k, v in request.query.items() if k.lower() == lowered), None)


class DutchieSpec(DialectSpec):
    dialect = Dialect.DUTCHIE
    prefix = "/dutchie"

    def __init__(self) -> None:
        def classify_products(request: SimRequest) -> EndpointClass:
            if _query(request, "fromLastModifiedDateUTC"):
                return EndpointClass.PRODUCTS_CHANGED
            return EndpointClass.PRODUCTS

        def route(
            method: str, path: str, endpoint: EndpointClass, handler: Any, **kw: Any
        ) -> DialectRoute:
            return DialectRoute(method, path, endpoint, handler, case_insensitive=True, **kw)

        self._routes = [
            route("GET", "/whoami", EndpointClass.AUTH, whoami),
            route(
                "GET",
                "/products",
                EndpointClass.PRODUCTS,
                list_products,
                classify=classify_products,
            ),
            route("GET", "/inventory", EndpointClass.INVENTORY, list_inventory),
            route("POST", "/preorder/submit", EndpointClass.ORDER_SUBMIT, submit_preorder),
            route("GET", "/preorder/status", EndpointClass.ORDER_STATUS, preorder_status),
            route("POST", "/preorder/cancel", EndpointClass.ORDER_CANCEL, cancel_preorder),
        ]

    @property
    def routes(self) -> list[DialectRoute]:
        return self._routes

    @staticmethod
    def _basic(request: SimRequest) -> tuple[str, str] | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def identify(self, request: SimRequest, simulator: Simulator) -> Store | None:
        credentials = self._basic(request)
        return simulator.find_store(Dialect.DUTCHIE, credentials[0]) if credentials else None

    def authenticate(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> None:
        credentials = self._basic(request)
        if credentials is None or credentials[1] not in ("", store.identity.integrator_key):
            raise DialectError(401, DENIED)
        scope = _SCOPE_FOR.get(route.endpoint)
        if scope is not None and scope not in store.scopes:
            raise DialectError(403, f"The API key does not have the {scope} permission.")
        if (
            scope == "PreOrder"
            and request.headers.get("consumerkey") != store.identity.consumer_key
        ):
            raise DialectError(401, DENIED)

    def error(self, status: int, message: str, reason: str | None = None) -> SimResponse:
        return SimResponse(status=status, body={"Message": message})

    def unauthorized(self) -> SimResponse:
        return self.error(401, DENIED)

    def forbidden(self) -> SimResponse:
        return self.error(403, "The API key does not have the required permission.")

    def rate_limit(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> RateOutcome:
        path = route.pattern.lower()
        limit = PREORDER_LIMIT if path.startswith("/preorder") else LIMITS.get(path, BASELINE_LIMIT)
        key = f"dutchie:{store.identity.api_key}:{path}"
        decision = simulator.limiter.hit(key, limit=limit, window_s=60)
        if decision.allowed:
            return RateOutcome(None, {})
        return RateOutcome(self._too_many(limit), {})

    @staticmethod
    def _too_many(limit: int) -> SimResponse:
        return SimResponse(
            status=429,
            body={
                "Message": f"Too many requests - only {limit} per minute allowed",
                "TraceId": uuid.uuid4().hex,
            },
        )

    def rate_limited(self, retry_after_s: float | None) -> SimResponse:
        response = self._too_many(BASELINE_LIMIT)
        response.headers.update(retry_after_header(retry_after_s))
        return response
