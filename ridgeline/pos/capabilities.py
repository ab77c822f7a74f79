"""What a POS adapter can do: one abstract interface per capability (as Netflix Dispatch's plugin
types), and `PosAdapter`, the base every adapter extends.

Every adapter is a `PosAdapter`: a name, a config model, its vendor's rate limits, and the
capabilities every store needs (`ConnectionCheck`, `CatalogSource`, `OrderSink`). It adds those of
the optional ones its POS has:

- how a lost submission answer is recovered: `OrderLookup` (the POS finds an order by our
  reference) or `OrderDedupe` (the POS dedupes a resubmission on our key); at least one;
- `WebhookSource` (the POS pushes events to a URL of ours), and `WebhookRegistrar` (it has an API
  to register that URL).

Callers ask for a capability (`isinstance(adapter, OrderLookup)`, or the registry's
`webhook_source(provider)`), never for a vendor by name or config class; the registry checks that
each listed adapter's capabilities fit together.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from ridgeline.clock import Clock
from ridgeline.errors import PosEventInvalid
from ridgeline.pos.base import (
    MAX_EVENT_ID_LENGTH,
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
    PosWebhookRegistration,
    ProductFetch,
    Registration,
)
from ridgeline.pos.canonical import CanonicalProduct
from ridgeline.resilience.rate_limit import RateLimits


class ConnectionCheck(abc.ABC):
    """The POS can tell us whether the credentials work, and which location they open."""

    @abc.abstractmethod
    async def verify_credentials(self) -> PosIdentity: ...


class CatalogSource(abc.ABC):
    """The POS lists the store's products and their stock (the sync engine reads it)."""

    # How far back an incremental fetch reaches before the stored cursor.
    cursor_overlap_s: ClassVar[float] = 60.0

    @abc.abstractmethod
    async def fetch_products(self, *, since: datetime | None = None) -> ProductFetch:
        """Every product (since=None) or those changed after `since` minus the overlap."""

    @abc.abstractmethod
    async def fetch_inventory(self) -> list[InventoryLevel]:
        """Stock of every product the POS lists; products it omits have none."""

    @abc.abstractmethod
    def map_product(self, record: Mapping[str, Any]) -> CanonicalProduct:
        """One vendor record to the canonical product; `RecordInvalid` when it cannot be."""


class OrderSink(abc.ABC):
    """The POS takes our orders, reports their status and cancels them. A submission whose
    answer was lost is recovered through `OrderLookup` or `OrderDedupe`, whichever it has."""

    # The vendor's order statuses in our words: polls and pushed events read them alike.
    order_statuses: ClassVar[Mapping[str, PosOrderStatus]]

    @classmethod
    def status_of(cls, vendor_status: str | None) -> PosOrderStatus | None:
        """Our word for a vendor status; None for one the table does not know."""
        return None if vendor_status is None else cls.order_statuses.get(vendor_status)

    @abc.abstractmethod
    async def submit_order(self, order: PosOrderRequest) -> PosOrderReceipt:
        """Create the order at the POS. Safe to call again for the same order only where the
        adapter is an `OrderDedupe`; elsewhere look it up (`OrderLookup.find_order`) first."""

    @abc.abstractmethod
    async def order_status(self, pos_order_id: str) -> PosOrderReceipt: ...

    @abc.abstractmethod
    async def cancel_order(self, pos_order_id: str) -> PosOrderReceipt: ...


class OrderLookup(abc.ABC):
    """The POS finds an order by our reference, which travels on every POS order: after a lost
    answer the order service looks before it submits again."""

    @abc.abstractmethod
    async def find_order(self, reference: str) -> PosOrderReceipt | None:
        """The POS order carrying our reference, if the POS has one."""


class OrderDedupe(abc.ABC):  # noqa: B024  (a capability without methods of its own)
    """The POS dedupes order submissions on our idempotency key: `submit_order` again with the
    same `PosOrderRequest.idempotency_key` returns the order it already has, which is how a lost
    answer is recovered (the POS has no lookup by our reference)."""


class WebhookSource(abc.ABC):
    """The POS pushes events (catalog changes, order statuses) to a URL of ours: which events,
    how a body reads, and how the URL reaches the POS. Class-level: reading an event needs no
    credentials and no connection."""

    name: ClassVar[str]  # the adapter's: the `source` of the events stored from its pushes
    webhook_events: ClassVar[Mapping[str, EventKind]]  # event type -> what it is about
    webhook_registration: ClassVar[Registration]
    webhook_instructions: ClassVar[str]  # for the operator: how the URL gets registered

    @classmethod
    @abc.abstractmethod
    def read_event(cls, body: Mapping[str, Any]) -> PosEventIn:
        """The event in a pushed JSON object; `PosEventInvalid` when it is not one."""

    @classmethod
    @abc.abstractmethod
    def read_order_update(cls, payload: Mapping[str, Any]) -> OrderUpdate | None:
        """The order update in a stored order event's payload; None when it holds none."""

    @classmethod
    def event_location(cls, config: PosConfig) -> str | None:
        """The POS location (shop) a pushed event must come from, given the store's config;
        None when its events name none or it is not known (the URL's token vouches alone)."""
        return None

    @classmethod
    def event_kind(cls, event_type: str) -> EventKind | None:
        return cls.webhook_events.get(event_type)

    @classmethod
    def parse_event(cls, body: bytes) -> tuple[PosEventIn, dict[str, Any]]:
        """The event and the body as a JSON object; `PosEventInvalid` when it is neither."""
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PosEventInvalid(details={"reason": "the body is not JSON"}) from None
        if not isinstance(document, dict):
            raise PosEventInvalid(details={"reason": "the body is not a JSON object"})
        event = cls.read_event(document)
        if len(event.event_id) > MAX_EVENT_ID_LENGTH:  # the readers check; storage relies on it
            raise PosEventInvalid(
                details={"reason": f"the event id is longer than {MAX_EVENT_ID_LENGTH} characters"}
            )
        return event, document


class WebhookRegistrar(abc.ABC):
    """The POS has an API to register our webhook URL (a `WebhookSource` whose registration is
    `Registration.API`)."""

    @abc.abstractmethod
    async def register_webhooks(self, url: str) -> PosWebhookRegistration:
        """Ask the POS to push its events to `url`; safe to repeat."""

    @classmethod
    def pinned_config(cls, config: PosConfig, location_id: str) -> PosConfig | None:
        """The store's config with the location the registration named pinned (so that events
        from any other are refused); None when there is nothing to change."""
        return None


C = TypeVar("C", bound=PosConfig)


class PosAdapter(ConnectionCheck, CatalogSource, OrderSink, Generic[C]):
    """One POS dialect. Subclasses set the class attributes below, add the optional capabilities
    their POS has, and register themselves with `ridgeline.pos.registry.register`."""

    name: ClassVar[str]  # the store's `pos_provider`
    display_name: ClassVar[str]  # the vendor's own spelling, for people
    config_model: ClassVar[type[PosConfig]]
    rate_limits: ClassVar[RateLimits]  # the vendor's limits per key and endpoint class

    def __init__(self, config: C, transport: PosTransport, clock: Clock) -> None:
        self.config = config
        self.transport = transport
        self.clock = clock

    def url(self, path: str) -> str:
        return self.config.base_url.rstrip("/") + path
