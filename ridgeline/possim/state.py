"""The simulator's state: stores (catalog, orders, faults, request log, push targets) and the
lookups the dialects use to find a store from its credentials."""

from __future__ import annotations

import random
import secrets
from collections import Counter, deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from ridgeline.clock import Clock, SystemClock
from ridgeline.possim.catalog import CatalogGenerator
from ridgeline.possim.credentials import StoreIdentity, make_identity
from ridgeline.possim.faults import FaultBook
from ridgeline.possim.model import DIALECT_CYCLE, Category, Dialect, Order, Product, iso_ms
from ridgeline.possim.pushes import Pusher
from ridgeline.possim.ratelimit import FixedWindowLimiter

REQUEST_LOG_SIZE = 2000
DUTCHIE_SCOPES = ("Products", "Inventory", "PreOrder")
DEFAULT_TOKEN_TTL_S = 3600
DEFAULT_RATE_LIMIT_PER_S = 50
MAX_PRODUCTS = 20_000

_PLACES = (
    "Ridgeline North",
    "Cedar Hollow",
    "Pine Street",
    "Harbor View",
    "Aspen Grove",
    "Lakeside",
    "Copper Canyon",
    "Old Town",
    "Westgate",
    "Riverside",
    "Summit",
    "Elm Park",
)
_KINDS = ("Cannabis Co.", "Dispensary", "Wellness", "Provisions", "Collective")

# Path under the simulator's root where each dialect's adapter `base_url` points.
BASE_PATHS: dict[Dialect, str] = {
    Dialect.DUTCHIE: "/dutchie",
    Dialect.TREEZ: "/treez",
    Dialect.BLAZE: "/blaze/api/v1/partner",
    Dialect.FLOWHUB: "/flowhub",
}


class UnknownProduct(KeyError):
    pass


@dataclass(frozen=True)
class RequestRecord:
    at: datetime
    method: str
    path: str
    endpoint: str
    status: int | None
    fault: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "at": iso_ms(self.at),
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "status": self.status,
            "fault": self.fault,
        }


@dataclass(frozen=True)
class WebhookTarget:
    id: str
    url: str
    # BLAZE webHookType values this target wants; None = every event (Treez, control API).
    events: frozenset[str] | None

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events

    def summary(self) -> dict[str, Any]:
        events = sorted(self.events) if self.events is not None else None
        return {"id": self.id, "url": self.url, "events": events}


@dataclass(frozen=True)
class AccessToken:
    token: str
    store_id: str
    expires_at: datetime


@dataclass(frozen=True)
class StoreSpec:
    dialect: Dialect
    products: int
    seed: int
    name: str | None


class Store:
    """One dispensary location on one POS."""

    def __init__(
        self,
        store_id: str,
        index: int,
        spec: StoreSpec,
        identity: StoreIdentity,
        name: str,
        clock: Clock,
    ) -> None:
        self.id = store_id
        self.index = index
        self.spec = spec
        self.dialect = spec.dialect
        self.name = name
        self.identity = identity
        self.clock = clock
        self.generator = CatalogGenerator(spec.dialect, spec.seed)
        self.products: dict[str, Product] = {
            p.product_id: p for p in self.generator.generate(spec.products)
        }
        self.removed: dict[str, tuple[Product, datetime]] = {}
        self.orders: dict[str, Order] = {}
        self.create_requests: Counter[str] = Counter()
        self.faults = FaultBook(f"{spec.seed}:{store_id}")
        self.requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        # Every request ever received, per endpoint class (the log above is bounded).
        self.request_counts: Counter[str] = Counter()
        self.webhooks: list[WebhookTarget] = []
        self.scopes: set[str] = set(DUTCHIE_SCOPES)
        self.token_ttl_s = DEFAULT_TOKEN_TTL_S
        self.rate_limit_per_s = DEFAULT_RATE_LIMIT_PER_S
        # Taxes on its orders' totals (Treez tickets, BLAZE carts carry the total): none until
        # set through the control API.
        self.tax_basis_points = 0
        self._order_numbers = 88_000 if spec.dialect is Dialect.DUTCHIE else 100_000

    def base_url(self, root: str) -> str:
        return root.rstrip("/") + BASE_PATHS[self.dialect]

    def summary(self, root: str) -> dict[str, Any]:
        identity = self.identity
        extra: dict[str, Any] = {}
        if self.dialect is Dialect.DUTCHIE:
            extra = {"location_id": identity.location_id}
        elif self.dialect is Dialect.TREEZ:
            extra = {"public_key_pem": identity.public_key_pem}
        elif self.dialect is Dialect.BLAZE:
            extra = {"shop_id": identity.external_id}
        return {
            "id": self.id,
            "dialect": self.dialect.value,
            "name": self.name,
            "seed": self.spec.seed,
            "products": len(self.products),
            "base_url": self.base_url(root),
            "config": identity.config(self.base_url(root)),
            **extra,
        }

    # --- catalog changes (control API) -------------------------------------------------------

    def product(self, product_id: str) -> Product:
        try:
            return self.products[product_id]
        except KeyError:
            raise UnknownProduct(product_id) from None

    def add_product(
        self,
        *,
        name: str | None = None,
        brand: str | None = None,
        category: Category | None = None,
        price_cents: int | None = None,
        quantity: int | None = None,
        active: bool | None = None,
    ) -> Product:
        product = self.generator.next_product(now=self.clock.now(), category=category)
        if name is not None:
            product.name = name
        if brand is not None:
            product.brand = brand
        if price_cents is not None:
            product.set_price(price_cents)
        if quantity is not None:
            product.quantity = quantity
        if active is not None:
            product.active = active
        self.products[product.product_id] = product
        return product

    def update_product(
        self,
        product_id: str,
        *,
        price_cents: int | None = None,
        quantity: int | None = None,
        name: str | None = None,
        active: bool | None = None,
    ) -> Product:
        product = self.product(product_id)
        now = self.clock.now()
        if price_cents is not None or name is not None or active is not None:
            product.updated_at = now
        if price_cents is not None:
            product.set_price(price_cents)
        if name is not None:
            product.name = name
        if active is not None:
            product.active = active
        if quantity is not None:
            product.quantity = quantity
            product.stock_updated_at = now
        return product

    def remove_product(self, product_id: str) -> Product:
        product = self.products.pop(product_id, None)
        if product is None:
            raise UnknownProduct(product_id)
        self.removed[product_id] = (product, self.clock.now())
        return product

    # --- orders and logs ---------------------------------------------------------------------

    def next_order_number(self) -> int:
        self._order_numbers += 1
        return self._order_numbers

    def orders_by_reference(self, reference: str) -> list[Order]:
        return [o for o in self.orders.values() if o.reference == reference]

    def log_request(
        self, method: str, path: str, endpoint: str, status: int | None, fault: str | None
    ) -> None:
        self.requests.append(RequestRecord(self.clock.now(), method, path, endpoint, status, fault))
        self.request_counts[endpoint] += 1

    def order_summary(self, order: Order) -> dict[str, Any]:
        counted = order.idempotency_key or order.reference
        return {
            "id": order.order_id,
            "number": order.number,
            "reference": order.reference,
            "idempotency_key": order.idempotency_key,
            "status": order.status,
            "items": [line.summary() for line in order.lines],
            "total_cents": order.total_cents,
            "customer": order.customer,
            "notes": order.notes,
            "order_type": order.order_type,
            "postback_url": order.postback_url,
            "holds_stock": order.holds_stock,
            "created_at": iso_ms(order.created_at),
            "updated_at": iso_ms(order.updated_at),
            "history": [{"status": s, "at": iso_ms(at)} for s, at in order.history],
            "create_requests": self.create_requests[counted] if counted else 1,
        }


class Simulator:
    """Every simulated store, and what they share: the clock, pushes and rate-limit counters."""

    def __init__(
        self,
        seed: int = 1,
        clock: Clock | None = None,
        push_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.seed = seed
        self.clock: Clock = clock or SystemClock()
        self.pusher = Pusher(self.clock, transport=push_transport)
        self.limiter = FixedWindowLimiter(self.clock)
        self.stores: dict[str, Store] = {}
        self._initial: list[StoreSpec] = []
        self._keys: dict[tuple[Dialect, str], Store] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._index = 0

    def seed_stores(self, count: int, products: int) -> list[Store]:
        """Create the startup stores (kept by `reset`), cycling dutchie, treez, blaze, flowhub."""
        return [
            self.add_store(DIALECT_CYCLE[i % len(DIALECT_CYCLE)], products, initial=True)
            for i in range(count)
        ]

    def add_store(
        self,
        dialect: Dialect,
        products: int,
        *,
        seed: int | None = None,
        name: str | None = None,
        initial: bool = False,
    ) -> Store:
        if not 0 <= products <= MAX_PRODUCTS:
            raise ValueError(f"products must be between 0 and {MAX_PRODUCTS}")
        self._index += 1
        index = self._index
        spec = StoreSpec(
            dialect, products, seed if seed is not None else self.seed * 1000 + index, name
        )
        if initial:
            self._initial.append(spec)
        rng = random.Random(f"possim-names:{self.seed}")  # noqa: S311 - display names
        places = rng.sample(_PLACES, len(_PLACES))
        store_name = name or f"{places[(index - 1) % len(places)]} {_KINDS[index % len(_KINDS)]}"
        identity = make_identity(dialect, self.seed, index, store_name)
        store = Store(f"{dialect.value}-{index}", index, spec, identity, store_name, self.clock)
        self.stores[store.id] = store
        for key in self._lookup_keys(store):
            self._keys[(dialect, key)] = store
        return store

    @staticmethod
    def _lookup_keys(store: Store) -> list[str]:
        identity = store.identity
        if store.dialect is Dialect.TREEZ:
            return [identity.slug]
        if store.dialect is Dialect.FLOWHUB:
            return [identity.client_id, f"oauth:{identity.oauth_client_id}"]
        return [identity.api_key]

    def reset(self) -> None:
        """Back to the startup stores: same ids, keys and catalogs; no orders, faults or logs."""
        initial = [replace(spec) for spec in self._initial]
        self.stores.clear()
        self._keys.clear()
        self._tokens.clear()
        self._initial.clear()
        self._index = 0
        self.limiter.clear()
        self.pusher.forget()
        for spec in initial:
            self.add_store(
                spec.dialect, spec.products, seed=spec.seed, name=spec.name, initial=True
            )

    def find_store(self, dialect: Dialect, key: str) -> Store | None:
        return self._keys.get((dialect, key))

    def issue_token(self, store: Store) -> AccessToken:
        token = AccessToken(
            token=secrets.token_urlsafe(32),
            store_id=store.id,
            expires_at=self.clock.now() + timedelta(seconds=store.token_ttl_s),
        )
        self._tokens[token.token] = token
        return token

    def store_for_token(self, token: str) -> Store | None:
        found = self._tokens.get(token)
        if found is None or self.clock.now() >= found.expires_at:
            return None
        return self.stores.get(found.store_id)
