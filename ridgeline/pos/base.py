"""What flows through a POS adapter's capabilities (capabilities.py): its config, the transport
it sends requests through, and the values it hands back.

An adapter knows its dialect (URLs, auth, paging, fields) and nothing about retries, rate limits or
breakers: it sends every request through a `PosTransport`, which the resilient client implements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

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
    """Raw vendor records (mapped one by one with `CatalogSource.map_product`, so that one bad
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
    # The order's total as the POS computed it (taxes included), where its answer carries one.
    total_cents: int | None = None


@dataclass(frozen=True, slots=True)
class PosWebhookRegistration:
    """What registering our webhook URL with the POS did."""

    events: Sequence[str]  # the event types the POS will push to the URL
    location_id: str  # the POS's id of the shop they come from (BLAZE `shopId`)


# `pos_events.external_id` is "<store id>:<event id>" in 200 characters; a UUID takes 36.
MAX_EVENT_ID_LENGTH = 200 - 37


class EventKind(StrEnum):
    PRODUCT = "product"  # a catalog change: read the POS again
    ORDER = "order"  # an order's status


class Registration(StrEnum):
    """How our URL gets to the POS."""

    API = "api"  # we register it: POST /api/v1/stores/{id}/pos/webhooks
    VENDOR_PORTAL = "vendor_portal"  # someone enters it in the vendor's portal
    PER_ORDER = "per_order"  # it travels with each order (a postback URL)


@dataclass(frozen=True, slots=True)
class PosEventIn:
    """One pushed event as its dialect names it."""

    event_type: str
    event_id: str  # the POS's id for it: what makes a redelivery a duplicate
    kind: EventKind
    location_id: str | None = None  # the shop the POS says it comes from, where it says


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """What an order event says: which POS order, ours if it names it, and its status (the
    vendor's word, and ours from the adapter's status table; None when the table lacks it)."""

    pos_order_id: str | None
    reference: str | None
    vendor_status: str | None
    status: PosOrderStatus | None
