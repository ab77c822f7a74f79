"""The one interface every POS adapter implements, and what flows through it.

The sync engine and the order service talk to a `PosAdapter`; they never know which POS it is.
An adapter knows its dialect (URLs, auth, paging, fields) and nothing about retries, rate limits or
breakers: it sends every request through a `PosTransport`, which the resilient client implements.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ridgeline.clock import Clock
from ridgeline.pos.canonical import CanonicalProduct
from ridgeline.pos.errors import PosProtocolError


class EndpointClass(StrEnum):
    """Groups of POS endpoints that share a rate limit, a fault target and a metric label."""

    AUTH = "auth"
    PRODUCTS = "products"
    PRODUCTS_CHANGED = "products_changed"
    INVENTORY = "inventory"
    ORDER_SUBMIT = "order_submit"
    ORDER_LOOKUP = "order_lookup"
    ORDER_STATUS = "order_status"
    ORDER_CANCEL = "order_cancel"
    WEBHOOKS = "webhooks"


class PosOrderStatus(StrEnum):
    """The order statuses a POS can report, in our words (a subset of the order state machine)."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    READY = "ready"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class PosConfig(BaseModel):
    """Base of every adapter's credentials model. Secrets are `SecretStr`, so they never print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(pattern=r"^https?://[^\s]+$", max_length=500)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    timeout_s: float = Field(default=30.0, gt=0, le=300, description="Whole call, per attempt.")

    def redacted(self) -> dict[str, Any]:
        """The config as operators may see it: secrets replaced by a marker."""
        view: dict[str, Any] = {}
        for name, value in self:
            view[name] = "********" if isinstance(value, SecretStr) else value
        return view


@dataclass(frozen=True, slots=True)
class PosResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; `PosProtocolError` when it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PosProtocolError(
                f"the POS answered {self.status} with a body that is not JSON"
            ) from exc


# Headers, or a function that makes them afresh for each attempt (a per-request signature,
# such as Treez's 30-second JWT, must be signed again when a request is retried).
Headers = Mapping[str, str] | Callable[[], Mapping[str, str]]


def resolve_headers(headers: Headers | None) -> Mapping[str, str] | None:
    return headers() if callable(headers) else headers


class PosTransport(Protocol):
    """Sends one logical request to the store's POS: the resilient client behind it applies
    timeouts, the rate limit, the circuit breaker and retries. It returns any answered status
    below 500 except 429 (those surface as `PosError`s); 401/403 raise `PosAuthFailed`."""

    async def request(
        self,
        endpoint: EndpointClass,
        method: str,
        url: str,
        *,
        idempotent: bool,
        headers: Headers | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> PosResponse: ...


@dataclass(frozen=True, slots=True)
class PosIdentity:
    """What a successful credentials check tells us about the POS location."""

    location_id: str
    location_name: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProductFetch:
    """Raw vendor records (mapped one by one with `PosAdapter.map_product`, so that one bad
    record is quarantined instead of failing the run) and the cursor for the next incremental
    fetch (None when the POS gave no modification times)."""

    records: Sequence[Mapping[str, Any]]
    cursor: datetime | None
    full: bool


@dataclass(frozen=True, slots=True)
class InventoryLevel:
    product_external_id: str
    variant_external_id: str | None  # None: the level applies to every variant of the product
    quantity: int


@dataclass(frozen=True, slots=True)
class PosOrderItem:
    product_external_id: str
    variant_external_id: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class PosOrderRequest:
    reference: str  # ours, `RL-...`: travels on the POS order so it can be found again
    idempotency_key: str  # for dialects that dedupe on a key (Dutchie)
    items: Sequence[PosOrderItem]
    customer_name: str | None = None
    customer_phone: str | None = None
    notes: str | None = None
    postback_url: str | None = None  # for dialects that call back on status changes (Flowhub)


@dataclass(frozen=True, slots=True)
class PosOrderReceipt:
    pos_order_id: str
    status: PosOrderStatus
    vendor_status: str
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class PosWebhookRegistration:
    """What registering our webhook URL with the POS did."""

    events: Sequence[str]  # the event types the POS will push to the URL
    location_id: str  # the POS's id of the shop they come from (BLAZE `shopId`)


C = TypeVar("C", bound=PosConfig)


class PosAdapter(abc.ABC, Generic[C]):
    """One POS dialect. Subclasses set `name` and `config_model` and register themselves with
    `ridgeline.pos.registry.register`."""

    name: ClassVar[str]
    config_model: ClassVar[type[PosConfig]]
    # True when the POS dedupes order submissions on our idempotency key; otherwise the order
    # service looks the order up by reference before resubmitting.
    dedupes_orders: ClassVar[bool] = False
    # How far back an incremental fetch reaches before the stored cursor.
    cursor_overlap_s: ClassVar[float] = 60.0

    def __init__(self, config: C, transport: PosTransport, clock: Clock) -> None:
        self.config = config
        self.transport = transport
        self.clock = clock

    def url(self, path: str) -> str:
        return self.config.base_url.rstrip("/") + path

    @abc.abstractmethod
    async def verify_credentials(self) -> PosIdentity: ...

    @abc.abstractmethod
    async def fetch_products(self, *, since: datetime | None = None) -> ProductFetch:
        """Every product (since=None) or those changed after `since` minus the overlap."""

    @abc.abstractmethod
    async def fetch_inventory(self) -> list[InventoryLevel]:
        """Stock of every product the POS lists; products it omits have none."""

    @abc.abstractmethod
    def map_product(self, record: Mapping[str, Any]) -> CanonicalProduct:
        """One vendor record to the canonical product; `RecordInvalid` when it cannot be."""

    @abc.abstractmethod
    async def submit_order(self, order: PosOrderRequest) -> PosOrderReceipt:
        """Create the order at the POS. Safe to call again for the same order only where
        `dedupes_orders`; elsewhere call `find_order` first."""

    @abc.abstractmethod
    async def find_order(self, reference: str) -> PosOrderReceipt | None:
        """The POS order carrying our reference, if the POS has one. Adapters whose POS has no
        lookup by reference (`dedupes_orders`: resubmitting is the recovery) raise
        `NotImplementedError`: check `dedupes_orders` first."""

    @abc.abstractmethod
    async def order_status(self, pos_order_id: str) -> PosOrderReceipt: ...

    @abc.abstractmethod
    async def cancel_order(self, pos_order_id: str) -> PosOrderReceipt: ...

    async def register_webhooks(self, url: str) -> PosWebhookRegistration:
        """Ask the POS to push its events to `url`. Only dialects with an API for it override
        this; the others raise `NotImplementedError` (registered by hand, or not at all)."""
        raise NotImplementedError(f"{self.name} has no API to register webhooks")
