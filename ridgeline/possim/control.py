"""The control API under `/_sim` (no auth, JSON): stores and their credentials, catalog changes,
faults, orders received, push targets, request logs, reset. docs/pos/simulator.md has examples."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from ridgeline.possim.faults import ANY_ENDPOINT, EndpointClass, FaultKind
from ridgeline.possim.gateway import DialectSpec
from ridgeline.possim.model import Category, Dialect
from ridgeline.possim.orders import FLOWS, IllegalTransition, move_order
from ridgeline.possim.state import MAX_PRODUCTS, Simulator, Store, UnknownProduct, WebhookTarget


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"ControlError({self.status}, {self.message!r})"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewStore(_Body):
    dialect: Dialect
    products: Annotated[int, Field(ge=0, le=MAX_PRODUCTS)] = 100
    seed: int | None = None
    name: str | None = None


class StoreChange(_Body):
    name: str | None = None
    scopes: list[Literal["Products", "Inventory", "PreOrder"]] | None = None
    token_ttl_s: Annotated[int, Field(ge=1)] | None = None
    rate_limit_per_s: Annotated[int, Field(ge=1)] | None = None
    tax_basis_points: Annotated[int, Field(ge=0, le=10_000)] | None = None


class NewProducts(_Body):
    count: Annotated[int, Field(ge=1, le=MAX_PRODUCTS)] = 1
    name: str | None = None
    brand: str | None = None
    category: Category | None = None
    price_cents: Annotated[int, Field(ge=1)] | None = None
    quantity: Annotated[int, Field(ge=0)] | None = None
    active: bool | None = None


class ProductChange(_Body):
    price_cents: Annotated[int, Field(ge=1)] | None = None
    quantity: Annotated[int, Field(ge=0)] | None = None
    name: Annotated[str, Field(min_length=1)] | None = None
    active: bool | None = None


class NewFault(_Body):
    endpoint: EndpointClass | Literal["*"]
    kind: FaultKind
    latency_ms: Annotated[int, Field(ge=0)] | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    retry_after_s: Annotated[float, Field(ge=0)] | None = None
    count: Annotated[int, Field(ge=1)] | None = None
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0


class StatusChange(_Body):
    status: str


class NewWebhook(_Body):
    url: Annotated[str, Field(pattern=r"^https?://")]
    events: list[str] | None = None


B = TypeVar("B", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _handled(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ControlError as exc:
            return _json({"error": exc.message}, exc.status)
        except ValidationError as exc:
            details = exc.errors(include_url=False, include_context=False, include_input=False)
            return _json({"error": "invalid request body", "details": details}, 422)

    return run


async def _parse(request: Request, model: type[B]) -> B:
    return model.model_validate_json(await request.body() or b"{}")


class ControlApi:
    def __init__(self, simulator: Simulator, specs: Mapping[Dialect, DialectSpec]) -> None:
        self.simulator = simulator
        self.specs = specs

    def router(self) -> Router:
        s = "/_sim/stores/{store_id}"
        routes = [
            ("/_sim", self.overview, ["GET"]),
            ("/_sim/reset", self.reset, ["POST"]),
            ("/_sim/stores", self.list_stores, ["GET"]),
            ("/_sim/stores", self.create_store, ["POST"]),
            (s, self.get_store, ["GET"]),
            (s, self.change_store, ["PATCH"]),
            (f"{s}/products", self.list_products, ["GET"]),
            (f"{s}/products", self.add_products, ["POST"]),
            (f"{s}/products/{{product_id}}", self.get_product, ["GET"]),
            (f"{s}/products/{{product_id}}", self.change_product, ["PATCH"]),
            (f"{s}/products/{{product_id}}", self.remove_product, ["DELETE"]),
            (f"{s}/faults", self.list_faults, ["GET"]),
            (f"{s}/faults", self.add_fault, ["POST"]),
            (f"{s}/faults", self.clear_faults, ["DELETE"]),
            (f"{s}/faults/{{fault_id}}", self.get_fault, ["GET"]),
            (f"{s}/faults/{{fault_id}}", self.remove_fault, ["DELETE"]),
            (f"{s}/orders", self.list_orders, ["GET"]),
            (f"{s}/orders/{{order_id}}", self.get_order, ["GET"]),
            (f"{s}/orders/{{order_id}}/status", self.change_order_status, ["POST"]),
            (f"{s}/webhooks", self.list_webhooks, ["GET"]),
            (f"{s}/webhooks", self.add_webhook, ["POST"]),
            (f"{s}/webhooks/{{webhook_id}}", self.remove_webhook, ["DELETE"]),
            (f"{s}/deliveries", self.list_deliveries, ["GET"]),
            (f"{s}/requests", self.list_requests, ["GET"]),
            (f"{s}/requests", self.clear_requests, ["DELETE"]),
        ]
        return Router(
            routes=[Route(path, _handled(fn), methods=m) for path, fn, m in routes],
            default=self._not_found,
        )

    @staticmethod
    async def _not_found(scope: Any, receive: Any, send: Any) -> None:
        await _json({"error": "no such control endpoint"}, 404)(scope, receive, send)

    def _store(self, request: Request) -> Store:
        store = self.simulator.stores.get(request.path_params["store_id"])
        if store is None:
            raise ControlError(404, f"store {request.path_params['store_id']} not found")
        return store

    def _product_id(self, request: Request, store: Store) -> str:
        product_id: str = request.path_params["product_id"]
        if product_id not in store.products:
            raise ControlError(404, f"product {product_id} not found in {store.id}")
        return product_id

    @staticmethod
    def _root(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # --- stores ------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        """Liveness and a one-line picture of the simulator."""
        sim = self.simulator
        return _json({"seed": sim.seed, "stores": [s.id for s in sim.stores.values()]})

    async def reset(self, request: Request) -> Response:
        """Back to the startup stores: same ids, credentials and catalogs; nothing recorded."""
        self.simulator.reset()
        return _json(
            {"stores": [s.summary(self._root(request)) for s in self.simulator.stores.values()]}
        )

    async def list_stores(self, request: Request) -> Response:
        root = self._root(request)
        return _json({"stores": [s.summary(root) for s in self.simulator.stores.values()]})

    async def create_store(self, request: Request) -> Response:
        body = await _parse(request, NewStore)
        store = self.simulator.add_store(
            body.dialect, body.products, seed=body.seed, name=body.name
        )
        return _json(store.summary(self._root(request)), 201)

    async def get_store(self, request: Request) -> Response:
        return _json(self._store(request).summary(self._root(request)))

    async def change_store(self, request: Request) -> Response:
        store = self._store(request)
        body = await _parse(request, StoreChange)
        if body.name is not None:
            store.name = body.name
        if body.scopes is not None:
            store.scopes = set(body.scopes)
        if body.token_ttl_s is not None:
            store.token_ttl_s = body.token_ttl_s
        if body.rate_limit_per_s is not None:
            store.rate_limit_per_s = body.rate_limit_per_s
        if body.tax_basis_points is not None:
            store.tax_basis_points = body.tax_basis_points
        summary = store.summary(self._root(request))
        summary |= {
            "scopes": sorted(store.scopes),
            "token_ttl_s": store.token_ttl_s,
            "rate_limit_per_s": store.rate_limit_per_s,
            "tax_basis_points": store.tax_basis_points,
        }
        return _json(summary)

    # --- catalog -----------------------------------------------------------------------------

    async def list_products(self, request: Request) -> Response:
        store = self._store(request)
        try:
            limit = int(request.query_params.get("limit", "100"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            raise ControlError(400, "limit and offset must be integers") from None
        products = list(store.products.values())[offset : offset + max(0, limit)]
        return _json(
            {
                "total": len(store.products),
                "offset": offset,
                "limit": limit,
                "products": [p.summary() for p in products],
            }
        )

    async def add_products(self, request: Request) -> Response:
        store = self._store(request)
        body = await _parse(request, NewProducts)
        if len(store.products) + body.count > MAX_PRODUCTS:
            raise ControlError(400, f"a store holds at most {MAX_PRODUCTS} products")
        fields = body.model_dump(exclude={"count"})
        added = [store.add_product(**fields) for _ in range(body.count)]
        for product in added:
            self._push_product(store, product.product_id, removed=False)
        return _json({"products": [p.summary() for p in added]}, 201)

    async def get_product(self, request: Request) -> Response:
        store = self._store(request)
        return _json(store.products[self._product_id(request, store)].summary())

    async def change_product(self, request: Request) -> Response:
        store = self._store(request)
        product_id = self._product_id(request, store)
        body = await _parse(request, ProductChange)
        product = store.update_product(product_id, **body.model_dump())
        self._push_product(store, product_id, removed=False)
        return _json(product.summary())

    async def remove_product(self, request: Request) -> Response:
        store = self._store(request)
        product_id = self._product_id(request, store)
        try:
            store.remove_product(product_id)
        except UnknownProduct:
            raise ControlError(404, f"product {product_id} not found") from None
        self._push_product(store, product_id, removed=True)
        return Response(status_code=204)

    def _push_product(self, store: Store, product_id: str, *, removed: bool) -> None:
        product = store.removed[product_id][0] if removed else store.products[product_id]
        pushes = self.specs[store.dialect].product_pushes(store, product, removed=removed)
        if pushes:
            self.simulator.pusher.send(store.id, pushes)

    # --- faults ------------------------------------------------------------------------------

    async def list_faults(self, request: Request) -> Response:
        return _json({"faults": [f.summary() for f in self._store(request).faults.in_order()]})

    async def add_fault(self, request: Request) -> Response:
        store = self._store(request)
        body = await _parse(request, NewFault)
        endpoint = body.endpoint if body.endpoint == ANY_ENDPOINT else EndpointClass(body.endpoint)
        fault = store.faults.add(
            endpoint=str(endpoint),
            kind=body.kind,
            created_at=self.simulator.clock.now(),
            latency_ms=body.latency_ms,
            status=body.status,
            retry_after_s=body.retry_after_s,
            count=body.count,
            probability=body.probability,
        )
        return _json(fault.summary(), 201)

    async def clear_faults(self, request: Request) -> Response:
        self._store(request).faults.clear()
        return Response(status_code=204)

    async def get_fault(self, request: Request) -> Response:
        fault = self._store(request).faults.get(request.path_params["fault_id"])
        if fault is None:
            raise ControlError(404, "fault not found")
        return _json(fault.summary())

    async def remove_fault(self, request: Request) -> Response:
        if not self._store(request).faults.remove(request.path_params["fault_id"]):
            raise ControlError(404, "fault not found")
        return Response(status_code=204)

    # --- orders ------------------------------------------------------------------------------

    async def list_orders(self, request: Request) -> Response:
        """Every order the POS received, with how many create requests carried its reference."""
        store = self._store(request)
        reference = request.query_params.get("reference")
        orders = [
            o
            for o in store.orders.values()
            if reference is None or reference in (o.reference, o.idempotency_key)
        ]
        return _json(
            {
                "orders": [store.order_summary(o) for o in orders],
                "create_requests": dict(store.create_requests),
            }
        )

    async def get_order(self, request: Request) -> Response:
        store = self._store(request)
        order = store.orders.get(request.path_params["order_id"])
        if order is None:
            raise ControlError(404, "order not found")
        return _json(store.order_summary(order))

    async def change_order_status(self, request: Request) -> Response:
        """Move an order through its dialect's statuses; fires webhooks and postbacks."""
        store = self._store(request)
        order = store.orders.get(request.path_params["order_id"])
        if order is None:
            raise ControlError(404, "order not found")
        body = await _parse(request, StatusChange)
        flow = FLOWS[store.dialect]
        if body.status not in flow.statuses:
            known = ", ".join(sorted(flow.statuses))
            raise ControlError(400, f"unknown {store.dialect.value} status {body.status}: {known}")
        try:
            move_order(
                store.dialect, store.products, order, body.status, self.simulator.clock.now()
            )
        except IllegalTransition as exc:
            raise ControlError(409, str(exc)) from None
        pushes = self.specs[store.dialect].order_pushes(store, order, created=False)
        if pushes:
            self.simulator.pusher.send(store.id, pushes)
        return _json(store.order_summary(order))

    # --- pushes and logs ---------------------------------------------------------------------

    async def list_webhooks(self, request: Request) -> Response:
        return _json({"webhooks": [t.summary() for t in self._store(request).webhooks]})

    async def add_webhook(self, request: Request) -> Response:
        """Register a push target (Treez-style: every event; BLAZE: `events` or every type)."""
        store = self._store(request)
        if store.dialect not in (Dialect.TREEZ, Dialect.BLAZE):
            raise ControlError(400, f"{store.dialect.value} does not push webhooks")
        body = await _parse(request, NewWebhook)
        events = frozenset(body.events) if body.events else None
        target = WebhookTarget(uuid.uuid4().hex, body.url, events)
        store.webhooks.append(target)
        return _json(target.summary(), 201)

    async def remove_webhook(self, request: Request) -> Response:
        store = self._store(request)
        kept = [t for t in store.webhooks if t.id != request.path_params["webhook_id"]]
        if len(kept) == len(store.webhooks):
            raise ControlError(404, "webhook not found")
        store.webhooks = kept
        return Response(status_code=204)

    async def list_deliveries(self, request: Request) -> Response:
        store = self._store(request)
        deliveries = self.simulator.pusher.for_store(store.id)
        return _json({"deliveries": [d.summary() for d in deliveries]})

    async def list_requests(self, request: Request) -> Response:
        """The store's recent requests (bounded), oldest first; `?endpoint=` filters by class.
        `totals` counts every request received per endpoint class (not bounded)."""
        store = self._store(request)
        endpoint = request.query_params.get("endpoint")
        records = [r for r in store.requests if endpoint is None or r.endpoint == endpoint]
        try:
            limit = int(request.query_params.get("limit", "0"))
        except ValueError:
            raise ControlError(400, "limit must be an integer") from None
        if limit > 0:
            records = records[-limit:]
        return _json(
            {
                "requests": [r.summary() for r in records],
                "count": len(records),
                "totals": dict(store.request_counts),
            }
        )

    async def clear_requests(self, request: Request) -> Response:
        self._store(request).requests.clear()
        return Response(status_code=204)
