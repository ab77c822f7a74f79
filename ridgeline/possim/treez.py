"""Treez API v3, as docs/pos/treez.md describes it: a fresh RS256 JWT per request (audience = the
exact URL, millisecond `iat`/`exp`, 30 s window), path paging that ends on a short page, tickets
found again by `external_order_number`, and webhooks to targets registered on the control API."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import unquote

import jwt

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
from ridgeline.possim.model import (
    Category,
    Dialect,
    Order,
    OrderLine,
    PotencyUnit,
    Product,
    epoch_ms,
    iso_ms,
    parse_iso,
)
from ridgeline.possim.orders import move_order, parse_items, price_lines, take_stock
from ridgeline.possim.pushes import Push
from ridgeline.possim.state import Simulator, Store

CATEGORY_TYPES: dict[Category, str] = {
    Category.FLOWER: "FLOWER",
    Category.PRE_ROLL: "PREROLL",
    Category.VAPE: "CARTRIDGE",
    Category.CONCENTRATE: "EXTRACT",
    Category.EDIBLE: "EDIBLE",
    Category.BEVERAGE: "BEVERAGE",
    Category.TINCTURE: "TINCTURE",
    Category.TOPICAL: "TOPICAL",
    Category.CAPSULE: "PILL",
    Category.ACCESSORY: "MERCH",
    Category.OTHER: "PLANT",
}
# Treez enforces its dispensary's state purchase limits on each ticket; the simulated stores
# are Californian (4 CCR § 15409, adult use): grams per ticket, by limit group.
PURCHASE_LIMITS_GRAMS: dict[str, float] = {"non_concentrated": 28.5, "concentrate": 8.0}
PURCHASE_LIMIT_GROUPS: dict[Category, str] = {
    Category.FLOWER: "non_concentrated",
    Category.PRE_ROLL: "non_concentrated",
    Category.CONCENTRATE: "concentrate",
    Category.VAPE: "concentrate",
}
MAX_PAGE_SIZE = 500
JWT_WINDOW_MS = 30_000
JWT_SKEW_MS = 5_000
RATE_LIMIT_WINDOW_S = 1


def _total_mg(product: Product, value: float | None) -> float | None:
    if value is None:
        return None
    if product.potency_unit is PotencyUnit.MILLIGRAMS:
        return value
    grams = product.primary.grams
    return round(value * grams * 10, 1) if grams is not None else None


def render_product(product: Product) -> dict[str, Any]:
    variant = product.primary
    by_weight = product.sold_by_weight and variant.grams is not None
    tiers = len(product.variants) > 1 and all(v.grams for v in product.variants)
    return {
        "product_id": product.product_id,
        "product_status": "ACTIVE" if product.active else "DEACTIVATED",
        "last_updated_at": iso_ms(product.updated_at),
        "sellable_quantity": product.quantity,
        "category_type": CATEGORY_TYPES[product.category],
        "product_configurable_fields": {
            "name": product.name,
            "uom": "GRAMS" if by_weight else "EACH",
            "brand": product.brand,
            "amount": variant.grams if by_weight else 1,
            "classification": product.strain_type.value.upper() if product.strain_type else None,
            "total_mg_thc": _total_mg(product, product.thc),
            "total_mg_cbd": _total_mg(product, product.cbd),
            "subtype": product.subcategory,
        },
        "pricing": {
            "price_type": "TIER" if tiers else "FLAT",
            "price_sell": dollars(variant.price_cents),
            "tier_pricing_detail": [
                {"start_value": v.grams, "price_per_value": round(v.price_cents / v.grams) / 100}
                for v in sorted(product.variants, key=lambda v: v.grams or 0)
                if v.grams
            ]
            if tiers
            else [],
        },
        "e_commerce": {
            "primary_image": product.image_url,
            "hide_from_menu": not product.online,
            "minimum_visible_inventory_level": 1,
        },
    }


def render_ticket(order: Order, *, preview: bool = False) -> dict[str, Any]:
    return {
        "ticket_id": None if preview else order.order_id,
        "order_number": None if preview else str(order.number),
        "order_status": "PREVIEW" if preview else order.status,
        "external_order_number": order.reference,
        "type": order.order_type,
        "order_source": "KIOSK",
        "customer": order.customer,
        "items": [
            {
                "product_id": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "price_sell": dollars(line.price_cents),
            }
            for line in order.lines
        ],
        "tax": dollars(order.tax_cents),
        "total": dollars(order.total_cents),
        "notes": order.notes,
        "created_at": iso_ms(order.created_at),
        "last_updated_at": iso_ms(order.updated_at),
    }


def _success(data: Any) -> dict[str, Any]:
    return {"resultCode": "SUCCESS", "data": data}


async def store_config(call: Call) -> SimResponse:
    return SimResponse(
        body=_success({"dispensary": call.store.identity.slug, "name": call.store.name})
    )


def _paging(request: SimRequest) -> tuple[int, int]:
    try:
        page, size = int(request.params["page"]), int(request.params["pagesize"])
    except ValueError:
        raise DialectError(
            400, "page and pagesize must be integers", reason="INVALID_PAGE"
        ) from None
    if size > MAX_PAGE_SIZE:
        raise DialectError(400, "Page size too large", reason="RESPONSE_LIMIT_EXCEEDS")
    if page < 1 or size < 1:
        raise DialectError(400, "page and pagesize start at 1", reason="INVALID_PAGE")
    return page, size


def _page_of(products: list[Product], page: int, size: int) -> SimResponse:
    def rows(n: int) -> list[dict[str, Any]]:
        return [render_product(p) for p in products[(n - 1) * size : n * size]]

    return SimResponse(
        records=RecordList(
            rows(page),
            lambda r: _success({"product_list": r}),
            ("product_id",),
            ("product_configurable_fields", "name"),
            price_path=("pricing", "price_sell"),
            previous_page=(lambda: rows(page - 1)) if page > 1 else None,
            paged=True,
        )
    )


async def list_products(call: Call) -> SimResponse:
    page, size = _paging(call.request)
    return _page_of(list(call.store.products.values()), page, size)


async def list_products_after(call: Call) -> SimResponse:
    page, size = _paging(call.request)
    text = call.request.params["date_time"]
    try:
        after = parse_iso(text)
    except ValueError:
        raise DialectError(400, f"Invalid date {text}", reason="INVALID_DATE") from None
    changed = sorted(
        (p for p in call.store.products.values() if p.updated_at > after),
        key=lambda p: (p.updated_at, p.number),
    )
    return _page_of(changed, page, size)


def _ticket_request(call: Call) -> Order:
    body = call.request.json_object()
    store = call.store
    reference = body.get("external_order_number")
    if reference is not None and not isinstance(reference, str):
        raise DialectError(400, "external_order_number must be a string")
    ticket_type = body.get("type") or "PICKUP"
    if ticket_type not in ("PICKUP", "DELIVERY", "IN_STORE"):
        raise DialectError(400, f"Unknown ticket type {ticket_type}")
    lines = price_lines(store.products, parse_items(body.get("items"), id_key="product_id"))
    _check_purchase_limits(store.products, lines)
    customer = body.get("customer") if isinstance(body.get("customer"), dict) else None
    now = call.now
    return Order(
        tax_basis_points=store.tax_basis_points,
        order_id=str(uuid.uuid4()),
        number=0,
        reference=reference,
        idempotency_key=None,
        lines=lines,
        status="AWAITING_PROCESSING",
        created_at=now,
        updated_at=now,
        customer=customer,
        notes=body.get("notes") if isinstance(body.get("notes"), str) else None,
        order_type=ticket_type,
        history=[("AWAITING_PROCESSING", now)],
    )


def _check_purchase_limits(products: dict[str, Product], lines: list[OrderLine]) -> None:
    """Refuse a ticket over a purchase limit the way the ticket's other refusals read: 400, FAIL,
    and a `resultReason` naming each group over its limit."""
    used = dict.fromkeys(PURCHASE_LIMITS_GRAMS, 0.0)
    for line in lines:
        product = products[line.product_id]
        group = PURCHASE_LIMIT_GROUPS.get(product.category)
        variant = product.variant(line.variant_id) if line.variant_id else product.primary
        if group is not None and variant is not None and variant.grams is not None:
            used[group] += variant.grams * line.quantity
    over = [
        f"{group} {round(used[group], 3):g} g over {limit:g} g"
        for group, limit in PURCHASE_LIMITS_GRAMS.items()
        if round(used[group], 3) > limit
    ]
    if over:
        reason = "PURCHASE_LIMIT: " + "; ".join(over)
        raise DialectError(400, reason, reason=reason)


async def preview_ticket(call: Call) -> SimResponse:
    return SimResponse(body=_success(render_ticket(_ticket_request(call), preview=True)))


async def create_ticket(call: Call) -> SimResponse:
    body = call.request.json()
    reference = body.get("external_order_number") if isinstance(body, dict) else None
    if isinstance(reference, str) and reference:
        call.store.create_requests[reference] += 1
    order = _ticket_request(call)
    take_stock(call.store.products, order, call.now)
    order.number = call.store.next_order_number()
    call.store.orders[order.order_id] = order
    call.push(TreezSpec.ticket_pushes(call.store, order))
    return SimResponse(body=_success(render_ticket(order)))


async def ticket_by_number(call: Call) -> SimResponse:
    number = call.request.params["order_number"]
    found = [render_ticket(o) for o in call.store.orders.values() if str(o.number) == number]
    return SimResponse(body=_success(found))


async def tickets_by_reference(call: Call) -> SimResponse:
    reference = call.request.params["reference"]
    return SimResponse(
        body=_success([render_ticket(o) for o in call.store.orders_by_reference(reference)])
    )


async def cancel_ticket(call: Call) -> SimResponse:
    order = call.store.orders.get(call.request.params["ticket_id"])
    if order is None:
        raise DialectError(404, "Ticket not found", reason="TICKET_NOT_FOUND")
    if order.status == "COMPLETED":
        raise DialectError(400, "Ticket is completed", reason="TICKET_ALREADY_COMPLETED")
    if order.status != "CANCELED":
        move_order(Dialect.TREEZ, call.store.products, order, "CANCELED", call.now)
        call.push(TreezSpec.ticket_pushes(call.store, order))
    return SimResponse(body=_success(render_ticket(order)))


class TreezSpec(DialectSpec):
    dialect = Dialect.TREEZ
    prefix = "/treez/dispensary/v3"

    def __init__(self) -> None:
        d = "/{dispensary}"
        page = "/page/{page}/pagesize/{pagesize}"
        self._routes = [
            DialectRoute("GET", f"{d}/config/store", EndpointClass.AUTH, store_config),
            DialectRoute(
                "GET",
                f"{d}/product/list{page}",
                EndpointClass.PRODUCTS,
                list_products,
                also=frozenset({EndpointClass.INVENTORY}),
            ),
            DialectRoute(
                "GET",
                f"{d}/product/list/lastUpdated/after/{{date_time}}{page}",
                EndpointClass.PRODUCTS_CHANGED,
                list_products_after,
            ),
            DialectRoute(
                "POST", f"{d}/ticket/previewticket", EndpointClass.ORDER_SUBMIT, preview_ticket
            ),
            DialectRoute(
                "POST", f"{d}/ticket/detailticket", EndpointClass.ORDER_SUBMIT, create_ticket
            ),
            DialectRoute(
                "GET",
                f"{d}/ticket/ordernumber/{{order_number}}",
                EndpointClass.ORDER_STATUS,
                ticket_by_number,
            ),
            DialectRoute(
                "GET",
                f"{d}/ticket/externalordernumber/{{reference}}",
                EndpointClass.ORDER_LOOKUP,
                tickets_by_reference,
            ),
            DialectRoute(
                "POST",
                f"{d}/ticket/{{ticket_id}}/cancel",
                EndpointClass.ORDER_CANCEL,
                cancel_ticket,
            ),
        ]

    @property
    def routes(self) -> list[DialectRoute]:
        return self._routes

    def identify(self, request: SimRequest, simulator: Simulator) -> Store | None:
        return simulator.find_store(Dialect.TREEZ, request.params.get("dispensary", ""))

    def authenticate(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> None:
        unauthorized = DialectError(401, "Unauthorized", reason="UNAUTHORIZED")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized
        identity = store.identity
        try:
            claims = jwt.decode(
                token.strip(),
                identity.private_key.public_key(),
                algorithms=["RS256"],
                options={
                    "verify_exp": False,  # milliseconds: checked below
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidTokenError:
            raise unauthorized from None
        if (
            claims.get("iss") != identity.certificate_id
            or claims.get("oid") != identity.external_id
        ):
            raise unauthorized
        if not _same_url(claims.get("aud"), request.url):
            raise unauthorized
        iat, exp = claims.get("iat"), claims.get("exp")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (iat, exp)):
            raise unauthorized
        assert isinstance(iat, int | float)
        assert isinstance(exp, int | float)
        now_ms = epoch_ms(simulator.clock.now())
        if exp - iat > JWT_WINDOW_MS or now_ms < iat - JWT_SKEW_MS or now_ms > exp:
            raise DialectError(400, "JWT expired", reason="JWT_EXPIRED")

    def error(self, status: int, message: str, reason: str | None = None) -> SimResponse:
        return SimResponse(
            status=status, body={"resultCode": "FAIL", "resultReason": reason or message}
        )

    def rate_limit(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> RateOutcome:
        decision = simulator.limiter.hit(
            f"treez:{store.id}", limit=store.rate_limit_per_s, window_s=RATE_LIMIT_WINDOW_S
        )
        return RateOutcome(None if decision.allowed else self.rate_limited(1), {})

    def rate_limited(self, retry_after_s: float | None) -> SimResponse:
        response = self.error(429, "Too many requests", "TOO_MANY_REQUESTS")
        response.headers.update(retry_after_header(retry_after_s))
        return response

    def product_pushes(self, store: Store, product: Product, *, removed: bool) -> list[Push]:
        data = render_product(product)
        if removed:
            data["product_status"] = "DEACTIVATED"
        return _pushes(store, "PRODUCT", data)

    def order_pushes(self, store: Store, order: Order, *, created: bool) -> list[Push]:
        return self.ticket_pushes(store, order)

    @staticmethod
    def ticket_pushes(store: Store, order: Order) -> list[Push]:
        return _pushes(store, "TICKET", render_ticket(order))


def _pushes(store: Store, event_type: str, data: dict[str, Any]) -> list[Push]:
    return [
        Push(
            target.url,
            event_type,
            {"event_type": event_type, "event_id": str(uuid.uuid4()), "data": data},
        )
        for target in store.webhooks
        if target.wants(event_type)
    ]


def _same_url(audience: object, url: str) -> bool:
    """`aud` must be the request URL; percent-encoding differences are forgiven."""
    candidates = audience if isinstance(audience, list) else [audience]
    return any(isinstance(a, str) and (a == url or unquote(a) == unquote(url)) for a in candidates)
