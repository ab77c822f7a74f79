"""BLAZE partner API, as docs/pos/blaze.md describes it: `partner_key` + `Authorization` headers,
skip/limit/total paging, carts (prepare, update, submit, get, look up by `externalId`, cancel),
and webhooks registered through `POST /webHooks`."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
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
    query_bool,
    query_int,
    retry_after_header,
)
from ridgeline.possim.model import (
    Category,
    Dialect,
    Order,
    PotencyUnit,
    Product,
    epoch_ms,
)
from ridgeline.possim.orders import move_order, parse_items, price_lines, take_stock
from ridgeline.possim.pushes import Push
from ridgeline.possim.state import Simulator, Store, WebhookTarget

CATEGORY_NAMES: dict[Category, tuple[str, ...]] = {
    Category.FLOWER: ("Flower",),
    Category.PRE_ROLL: ("Pre-Roll",),
    Category.VAPE: ("Vape",),
    Category.CONCENTRATE: ("Concentrate",),
    Category.EDIBLE: ("Edible",),
    Category.BEVERAGE: ("Drink",),
    Category.TINCTURE: ("Tincture",),
    Category.TOPICAL: ("Topical",),
    Category.CAPSULE: ("Capsule",),
    Category.ACCESSORY: ("Accessory", "Gear"),
    Category.OTHER: ("Clones", "Seeds"),
}
WEIGHT_PER_UNIT = {
    0.5: "HALF_GRAM",
    1.0: "FULL_GRAM",
    3.5: "EIGHTH",
    7.0: "FOURTH",
    14.0: "HALF_OUNCE",
    28.0: "OUNCE",
}
BREAK_NAMES = {1.0: "1 Gram", 3.5: "1/8th", 7.0: "1/4th", 14.0: "1/2 Oz", 28.0: "1 Oz"}
WEBHOOK_TYPES = frozenset({"UPDATE_PRODUCT", "NEW_CONSUMER_ORDER", "UPDATE_CONSUMER_ORDER"})
MAX_LIMIT = 500
DEFAULT_LIMIT = 200
INVALID_CREDENTIALS = "Invalid credentials"


def _hex_id(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=12).hexdigest()


def modified_at(product: Product) -> datetime:
    """BLAZE embeds stock in the product, so its `modified` moves on stock changes too."""
    return max(product.updated_at, product.stock_updated_at)


def _quantities(store: Store, product: Product) -> list[dict[str, Any]]:
    floor = {"inventoryId": _hex_id("inventory", store.id, "floor"), "quantity": product.quantity}
    if product.number % 4 == 0 and product.quantity >= 2:
        vault = product.quantity // 3
        floor["quantity"] = product.quantity - vault
        return [floor, {"inventoryId": _hex_id("inventory", store.id, "vault"), "quantity": vault}]
    return [floor]


def render_product(store: Store, product: Product, *, deleted: bool = False) -> dict[str, Any]:
    variant = product.primary
    names = CATEGORY_NAMES[product.category]
    category = names[product.category_pick % len(names)]
    percent = product.potency_unit is PotencyUnit.PERCENT
    milligrams = product.potency_unit is PotencyUnit.MILLIGRAMS
    return {
        "id": product.product_id,
        "shopId": store.identity.external_id,
        "sku": product.sku,
        "name": product.name,
        "category": {"id": _hex_id("category", category), "name": category},
        "brand": product.brand,
        "flowerType": product.strain_type.value if product.strain_type else None,
        "cannabisType": (
            "NON_CANNABIS"
            if product.category is Category.ACCESSORY
            else "CONCENTRATE"
            if product.category in (Category.VAPE, Category.CONCENTRATE)
            else "NON_CONCENTRATE"
        ),
        "thc": product.thc if percent else 0.0,
        "cbd": product.cbd if percent else 0.0,
        "potencyAmount": {"thc": product.thc, "cbd": product.cbd} if milligrams else None,
        "weightPerUnit": WEIGHT_PER_UNIT.get(variant.grams or 0.0, "EACH")
        if product.sold_by_weight
        else "EACH",
        "unitPrice": dollars(variant.price_cents),
        "priceBreaks": [
            {
                "name": BREAK_NAMES.get(v.grams or 0.0, v.label),
                "quantity": v.grams,
                "price": dollars(v.price_cents),
            }
            for v in product.variants
        ]
        if len(product.variants) > 1
        else [],
        "quantities": _quantities(store, product),
        "instock": product.quantity > 0,
        "active": product.active and not deleted,
        "deleted": deleted,
        "productSaleType": "Medicinal" if product.medical_only else "Both",
        "showInWidget": product.online,
        "modified": epoch_ms(modified_at(product)),
        "assets": [{"publicURL": product.image_url}] if product.image_url else [],
    }


def render_cart(store: Store, order: Order) -> dict[str, Any]:
    return {
        "id": order.order_id,
        "shopId": store.identity.external_id,
        "externalId": order.reference,
        "status": order.status,
        "memo": order.notes,
        "consumer": order.customer,
        "items": [
            {
                "productId": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "unitPrice": dollars(line.price_cents),
                "finalPrice": dollars(line.price_cents * line.quantity),
            }
            for line in order.lines
        ],
        "taxAmount": dollars(order.tax_cents),
        "total": dollars(order.total_cents),
        "created": epoch_ms(order.created_at),
        "modified": epoch_ms(order.updated_at),
    }


def _paged(
    call: Call,
    rows: list[Any],
    render: Any,
    id_path: tuple[str, ...],
    name_path: tuple[str, ...],
    price_path: tuple[str, ...] | None,
) -> SimResponse:
    skip = query_int(call.request, "skip", 0)
    limit = query_int(call.request, "limit", DEFAULT_LIMIT, minimum=1)
    if limit > MAX_LIMIT:
        raise DialectError(400, f"limit must not exceed {MAX_LIMIT}")
    total = len(rows)

    def page(start: int) -> list[dict[str, Any]]:
        return [render(row) for row in rows[start : start + limit]]

    return SimResponse(
        records=RecordList(
            page(skip),
            lambda values: {"values": values, "skip": skip, "limit": limit, "total": total},
            id_path,
            name_path,
            price_path=price_path,
            previous_page=(lambda: page(max(0, skip - limit))) if skip > 0 else None,
            paged=True,
        )
    )


async def shop(call: Call) -> SimResponse:
    return SimResponse(body={"id": call.store.identity.external_id, "name": call.store.name})


async def list_products(call: Call) -> SimResponse:
    active = query_bool(call.request, "active")
    instock = query_bool(call.request, "instock")
    rows = [
        p
        for p in call.store.products.values()
        if (active is None or p.active == active)
        and (instock is None or (p.quantity > 0) == instock)
    ]
    return _paged(
        call, rows, lambda p: render_product(call.store, p), ("id",), ("name",), ("unitPrice",)
    )


async def list_modified(call: Call) -> SimResponse:
    # Compared in whole milliseconds, the precision `modified` is served in.
    start = query_int(call.request, "startDate", 0)
    end = query_int(call.request, "endDate", epoch_ms(call.now))
    store = call.store
    rows = [(p, epoch_ms(modified_at(p)), False) for p in store.products.values()]
    rows += [(p, epoch_ms(removed_at), True) for p, removed_at in store.removed.values()]
    changed = sorted(
        (row for row in rows if start <= row[1] <= end), key=lambda row: (row[1], row[0].number)
    )

    def render(row: tuple[Product, int, bool]) -> dict[str, Any]:
        product, moment, deleted = row
        return {**render_product(store, product, deleted=deleted), "modified": moment}

    return _paged(call, changed, render, ("id",), ("name",), ("unitPrice",))


async def inventory_products(call: Call) -> SimResponse:
    rows = list(call.store.products.values())
    return _paged(
        call,
        rows,
        lambda p: {"productId": p.product_id, "quantity": p.quantity},
        ("productId",),
        ("productId",),
        None,
    )


async def batch_quantities(call: Call) -> SimResponse:
    rows = [p for p in call.store.products.values() if p.quantity > 0]

    def render(p: Product) -> dict[str, Any]:
        return {
            "productId": p.product_id,
            "batchId": _hex_id("batch", p.product_id, p.batch_id),
            "batchSku": p.batch_id,
            "metrcLabel": p.package_id,
            "quantity": p.quantity,
        }

    return _paged(call, rows, render, ("productId",), ("batchSku",), None)


def _cart_fields(call: Call, body: dict[str, Any]) -> tuple[list[Any], str | None, Any]:
    lines = price_lines(call.store.products, parse_items(body.get("items"), id_key="productId"))
    memo = body.get("memo") if isinstance(body.get("memo"), str) else None
    consumer = body.get("consumer") if isinstance(body.get("consumer"), dict) else None
    return lines, memo, consumer


async def prepare_cart(call: Call) -> SimResponse:
    body = call.request.json_object()
    reference = body.get("externalId")
    if reference is not None and not isinstance(reference, str):
        raise DialectError(400, "externalId must be a string")
    if reference:
        call.store.create_requests[reference] += 1
    lines, memo, consumer = _cart_fields(call, body)
    now = call.now
    order = Order(
        tax_basis_points=call.store.tax_basis_points,
        order_id=uuid.uuid4().hex[:24],
        number=call.store.next_order_number(),
        reference=reference or None,
        idempotency_key=None,
        lines=lines,
        status="InProgress",
        created_at=now,
        updated_at=now,
        customer=consumer,
        notes=memo,
        order_type="Pickup",
        history=[("InProgress", now)],
    )
    call.store.orders[order.order_id] = order
    return SimResponse(body=render_cart(call.store, order))


def _cart(call: Call) -> Order:
    order = call.store.orders.get(call.request.params["cart_id"])
    if order is None:
        raise DialectError(404, "Cart not found")
    return order


async def update_cart(call: Call) -> SimResponse:
    order = _cart(call)
    if order.status != "InProgress":
        raise DialectError(400, f"Cart {order.order_id} is {order.status} and cannot be changed")
    order.lines, order.notes, order.customer = _cart_fields(call, call.request.json_object())
    order.updated_at = call.now
    return SimResponse(body=render_cart(call.store, order))


async def submit_cart(call: Call) -> SimResponse:
    order = _cart(call)
    if order.status != "InProgress":
        raise DialectError(400, f"Cart {order.order_id} has already been submitted")
    now = call.now
    take_stock(call.store.products, order, now)
    order.status = "Placed"
    order.updated_at = now
    order.history.append(("Placed", now))
    call.push(BlazeSpec.cart_pushes(call.store, order, created=True))
    return SimResponse(body=render_cart(call.store, order))


async def get_cart(call: Call) -> SimResponse:
    return SimResponse(body=render_cart(call.store, _cart(call)))


async def find_carts(call: Call) -> SimResponse:
    reference = call.request.query.get("externalId")
    orders: Iterable[Order] = (
        call.store.orders_by_reference(reference) if reference else call.store.orders.values()
    )
    values = [render_cart(call.store, o) for o in orders]
    return SimResponse(body={"values": values, "total": len(values)})


async def cancel_cart(call: Call) -> SimResponse:
    order = _cart(call)
    if order.status in ("CanceledByConsumer", "CanceledByDispensary"):
        return SimResponse(body=render_cart(call.store, order))
    if order.status in ("Completed", "Declined"):
        raise DialectError(400, f"Cart {order.order_id} is {order.status} and cannot be canceled")
    move_order(Dialect.BLAZE, call.store.products, order, "CanceledByConsumer", call.now)
    call.push(BlazeSpec.cart_pushes(call.store, order, created=False))
    return SimResponse(body=render_cart(call.store, order))


async def register_webhook(call: Call) -> SimResponse:
    body = call.request.json_object()
    store = call.store
    kind, urls, shop_id = body.get("webHookType"), body.get("webHookUrls"), body.get("shopId")
    if not isinstance(kind, str) or not kind:
        raise DialectError(400, "webHookType is required")
    if not isinstance(urls, list) or not all(
        isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls
    ):
        raise DialectError(400, "webHookUrls must be a list of http(s) URLs")
    if shop_id != store.identity.external_id:
        raise DialectError(400, "shopId does not match this dispensary")
    # Registering a type replaces its URLs, as BLAZE keeps one URL list per webhook type.
    store.webhooks = [t for t in store.webhooks if t.events != frozenset({kind})]
    store.webhooks += [WebhookTarget(uuid.uuid4().hex, u, frozenset({kind})) for u in urls]
    return SimResponse(body={"webHookType": kind, "webHookUrls": urls, "shopId": shop_id})


class BlazeSpec(DialectSpec):
    dialect = Dialect.BLAZE
    prefix = "/blaze/api/v1/partner"

    def __init__(self) -> None:
        e = EndpointClass
        self._routes = [
            DialectRoute("GET", "/store", e.AUTH, shop),
            DialectRoute("GET", "/products", e.PRODUCTS, list_products),
            DialectRoute("GET", "/products/modified", e.PRODUCTS_CHANGED, list_modified),
            DialectRoute("GET", "/store/inventory/products", e.INVENTORY, inventory_products),
            DialectRoute("GET", "/store/batches/quantities", e.INVENTORY, batch_quantities),
            DialectRoute("POST", "/store/cart/prepare", e.ORDER_SUBMIT, prepare_cart),
            DialectRoute("POST", "/store/cart/updateCart/{cart_id}", e.ORDER_SUBMIT, update_cart),
            DialectRoute("POST", "/store/cart/submitCart/{cart_id}", e.ORDER_SUBMIT, submit_cart),
            DialectRoute("GET", "/store/carts", e.ORDER_LOOKUP, find_carts),
            DialectRoute("GET", "/store/cart/{cart_id}", e.ORDER_STATUS, get_cart),
            DialectRoute("DELETE", "/store/cart/cancelCart/{cart_id}", e.ORDER_CANCEL, cancel_cart),
            DialectRoute("POST", "/webHooks", e.WEBHOOKS, register_webhook),
        ]

    @property
    def routes(self) -> list[DialectRoute]:
        return self._routes

    def identify(self, request: SimRequest, simulator: Simulator) -> Store | None:
        return simulator.find_store(Dialect.BLAZE, request.headers.get("authorization", ""))

    def authenticate(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> None:
        if request.headers.get("partner_key") != store.identity.integrator_key:
            raise DialectError(401, INVALID_CREDENTIALS)

    def error(self, status: int, message: str, reason: str | None = None) -> SimResponse:
        return SimResponse(status=status, body={"message": message})

    def unauthorized(self) -> SimResponse:
        return self.error(401, INVALID_CREDENTIALS)

    def forbidden(self) -> SimResponse:
        return self.error(403, "Access denied for this dispensary")

    def rate_limit(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> RateOutcome:
        decision = simulator.limiter.hit(
            f"blaze:{store.id}", limit=store.rate_limit_per_s, window_s=1
        )
        return RateOutcome(None if decision.allowed else self.rate_limited(1), {})

    def rate_limited(self, retry_after_s: float | None) -> SimResponse:
        response = self.error(429, "Too many requests")
        response.headers.update(retry_after_header(retry_after_s))
        return response

    def product_pushes(self, store: Store, product: Product, *, removed: bool) -> list[Push]:
        return _pushes(store, "UPDATE_PRODUCT", render_product(store, product, deleted=removed))

    def order_pushes(self, store: Store, order: Order, *, created: bool) -> list[Push]:
        return self.cart_pushes(store, order, created=created)

    @staticmethod
    def cart_pushes(store: Store, order: Order, *, created: bool) -> list[Push]:
        kind = "NEW_CONSUMER_ORDER" if created else "UPDATE_CONSUMER_ORDER"
        return _pushes(store, kind, render_cart(store, order))


def _pushes(store: Store, kind: str, data: dict[str, Any]) -> list[Push]:
    body = {"webHookType": kind, "shopId": store.identity.external_id}
    return [
        Push(target.url, kind, {**body, "eventId": uuid.uuid4().hex, "data": data})
        for target in store.webhooks
        if target.wants(kind)
    ]
