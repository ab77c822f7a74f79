"""The registry offers the listed adapters by name and refuses capabilities that do not fit
together; callers find optional capabilities through it, not through vendor names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import pytest

from ridgeline.errors import PosEventInvalid
from ridgeline.pos.adapters import ADAPTERS
from ridgeline.pos.base import (
    EventKind,
    InventoryLevel,
    OrderUpdate,
    PosConfig,
    PosEventIn,
    PosIdentity,
    PosOrderReceipt,
    PosOrderRequest,
    PosOrderStatus,
    PosWebhookRegistration,
    ProductFetch,
    Registration,
)
from ridgeline.pos.canonical import CanonicalProduct
from ridgeline.pos.capabilities import (
    OrderDedupe,
    PosAdapter,
    WebhookRegistrar,
    WebhookSource,
)
from ridgeline.pos.registry import (
    adapter_class,
    adapter_names,
    capability_problems,
    display_name,
    webhook_source,
)
from ridgeline.resilience import RateLimit, RateLimits


class Bare(PosAdapter[PosConfig]):
    """Required capabilities only, none of them working: enough for the registry's checks."""

    name: ClassVar[str] = "csv"
    display_name: ClassVar[str] = "CSV import"
    config_model: ClassVar[type[PosConfig]] = PosConfig
    rate_limits: ClassVar[RateLimits] = RateLimits(
        vendor="csv", buckets={"default": RateLimit(limit=10, period_s=1.0, burst=1)}
    )
    order_statuses: ClassVar[Mapping[str, PosOrderStatus]] = {}

    async def verify_credentials(self) -> PosIdentity:
        raise NotImplementedError

    async def fetch_products(self, *, since: datetime | None = None) -> ProductFetch:
        raise NotImplementedError

    async def fetch_inventory(self) -> list[InventoryLevel]:
        raise NotImplementedError

    def map_product(self, record: Mapping[str, Any]) -> CanonicalProduct:
        raise NotImplementedError

    async def submit_order(self, order: PosOrderRequest) -> PosOrderReceipt:
        raise NotImplementedError

    async def order_status(self, pos_order_id: str) -> PosOrderReceipt:
        raise NotImplementedError

    async def cancel_order(self, pos_order_id: str) -> PosOrderReceipt:
        raise NotImplementedError


class Deduping(Bare, OrderDedupe):
    pass


class Pushing(Deduping, WebhookSource):
    webhook_events: ClassVar[Mapping[str, EventKind]] = {"CHANGED": EventKind.PRODUCT}
    webhook_registration: ClassVar[Registration] = Registration.API
    webhook_instructions: ClassVar[str] = "-"

    @classmethod
    def read_event(cls, body: Mapping[str, Any]) -> PosEventIn:
        return PosEventIn("CHANGED", str(body["id"]), EventKind.PRODUCT)

    @classmethod
    def read_order_update(cls, payload: Mapping[str, Any]) -> OrderUpdate | None:
        return None


class Registering(Pushing, WebhookRegistrar):
    async def register_webhooks(self, url: str) -> PosWebhookRegistration:
        raise NotImplementedError


def test_every_listed_adapter_is_offered_by_name() -> None:
    assert adapter_names() == sorted(adapter.name for adapter in ADAPTERS)
    for adapter in ADAPTERS:
        assert adapter_class(adapter.name) is adapter
        assert capability_problems(adapter) == []
    assert adapter_class("csv") is None


def test_capabilities_are_found_without_naming_a_vendor() -> None:
    pushing = {name for name in adapter_names() if webhook_source(name) is not None}
    assert pushing == {"blaze", "treez", "flowhub"}
    for name in pushing:
        source = webhook_source(name)
        assert source is not None
        assert source.name == name
        assert (source.webhook_registration is Registration.API) == issubclass(
            source, WebhookRegistrar
        )
    assert webhook_source("unknown") is None
    assert [display_name(n) for n in adapter_names()] == ["BLAZE", "Dutchie", "Flowhub", "Treez"]
    assert display_name("unknown") == "unknown"


def test_lost_answers_need_a_lookup_or_a_dedupe() -> None:
    assert capability_problems(Bare) == ["it is neither an OrderLookup nor an OrderDedupe"]
    assert capability_problems(Deduping) == []


def test_api_registration_needs_a_registrar_and_the_reverse() -> None:
    assert capability_problems(Registering) == []
    [problem] = capability_problems(Pushing)
    assert "WebhookRegistrar" in problem

    class PortalRegistering(Registering):
        webhook_registration: ClassVar[Registration] = Registration.VENDOR_PORTAL

    assert len(capability_problems(PortalRegistering)) == 1


def test_rate_limits_carry_the_adapters_name() -> None:
    class Misnamed(Deduping):
        name: ClassVar[str] = "csv2"

    assert capability_problems(Misnamed) == ["its rate limits are named 'csv'"]


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"id": "' + b"x" * 200 + b'"}'])
def test_a_source_refuses_what_is_no_event_it_can_store(body: bytes) -> None:
    with pytest.raises(PosEventInvalid):
        Pushing.parse_event(body)
    event, document = Pushing.parse_event(b'{"id": 7}')
    assert (event.event_id, document) == ("7", {"id": 7})
