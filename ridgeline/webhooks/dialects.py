"""What each POS pushes and how its bodies read: the event's type, the POS's id for it (what
makes a redelivery a duplicate) and whether it is about the catalog or an order.

BLAZE `{"webHookType", "shopId", "eventId", "data"}`, Treez `{"event_type", "event_id", "data"}`,
Flowhub order postbacks `{"orderId", "externalId", "status", "updatedAt"}` (no event id: the
order id and status name one postback). Dutchie pushes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ridgeline.errors import PosEventInvalid, PosWebhooksUnsupported

# `pos_events.external_id` is "<store id>:<event id>" in 200 characters; a UUID takes 36.
MAX_EVENT_ID_LENGTH = 200 - 37


class EventKind(StrEnum):
    PRODUCT = "product"  # a catalog change: read the POS again
    ORDER = "order"  # an order's status


class Registration(StrEnum):
    """How our URL gets to the POS."""

    API = "api"  # we register it: POST /api/v1/stores/{id}/pos/webhooks
    VENDOR_PORTAL = "vendor_portal"  # someone enters it in the vendor's portal
    PER_ORDER = "per_order"  # it travels with each order (Flowhub's postbackUrl)


@dataclass(frozen=True, slots=True)
class PosEventIn:
    """One pushed event as its dialect names it."""

    event_type: str
    event_id: str
    kind: EventKind
    shop_id: str | None = None  # the shop the POS says it comes from (BLAZE)


@dataclass(frozen=True, slots=True)
class WebhookDialect:
    provider: str
    events: Mapping[str, EventKind]
    registration: Registration
    instructions: str
    read: Callable[[Mapping[str, Any]], PosEventIn]

    def parse(self, body: bytes) -> tuple[PosEventIn, dict[str, Any]]:
        """The event and the body as a JSON object; `PosEventInvalid` when it is neither."""
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PosEventInvalid(details={"reason": "the body is not JSON"}) from None
        if not isinstance(document, dict):
            raise PosEventInvalid(details={"reason": "the body is not a JSON object"})
        return self.read(document), document


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    # Some POSes number their events; an id is compared as text either way.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise PosEventInvalid(details={"reason": f"{key} is missing or not a string"})
    return value.strip()


def _event_id(value: str) -> str:
    if len(value) > MAX_EVENT_ID_LENGTH:
        raise PosEventInvalid(
            details={"reason": f"the event id is longer than {MAX_EVENT_ID_LENGTH} characters"}
        )
    return value


def _kind(events: Mapping[str, EventKind], key: str, event_type: str) -> EventKind:
    kind = events.get(event_type)
    if kind is None:
        raise PosEventInvalid(
            details={"reason": f"unknown {key} {event_type!r}; one of: {', '.join(events)}"}
        )
    return kind


BLAZE_EVENTS: Mapping[str, EventKind] = {
    "UPDATE_PRODUCT": EventKind.PRODUCT,
    "NEW_CONSUMER_ORDER": EventKind.ORDER,
    "UPDATE_CONSUMER_ORDER": EventKind.ORDER,
}
TREEZ_EVENTS: Mapping[str, EventKind] = {"PRODUCT": EventKind.PRODUCT, "TICKET": EventKind.ORDER}
FLOWHUB_POSTBACK = "ORDER_POSTBACK"


def _read_blaze(body: Mapping[str, Any]) -> PosEventIn:
    event_type = _text(body, "webHookType")
    return PosEventIn(
        event_type=event_type,
        event_id=_event_id(_text(body, "eventId")),
        kind=_kind(BLAZE_EVENTS, "webHookType", event_type),
        shop_id=_text(body, "shopId"),
    )


def _read_treez(body: Mapping[str, Any]) -> PosEventIn:
    event_type = _text(body, "event_type")
    return PosEventIn(
        event_type=event_type,
        event_id=_event_id(_text(body, "event_id")),
        kind=_kind(TREEZ_EVENTS, "event_type", event_type),
    )


def _read_flowhub(body: Mapping[str, Any]) -> PosEventIn:
    # A postback has no id of its own: one order reaches one status once, so the two name it
    # (a redelivery of the same postback is a duplicate; the next status is a new event).
    order_id, status = _text(body, "orderId"), _text(body, "status")
    return PosEventIn(
        event_type=FLOWHUB_POSTBACK,
        event_id=_event_id(f"{order_id}:{status}"),
        kind=EventKind.ORDER,
    )


DIALECTS: Mapping[str, WebhookDialect] = {
    dialect.provider: dialect
    for dialect in (
        WebhookDialect(
            provider="blaze",
            events=BLAZE_EVENTS,
            registration=Registration.API,
            instructions="POST /api/v1/stores/{id}/pos/webhooks registers this URL with BLAZE "
            "(POST /webHooks) for every event type; registering again replaces the URL.",
            read=_read_blaze,
        ),
        WebhookDialect(
            provider="treez",
            events=TREEZ_EVENTS,
            registration=Registration.VENDOR_PORTAL,
            instructions="Treez has no API to register webhooks: enter this URL for product "
            "and ticket events in the Treez portal (or ask Treez support to).",
            read=_read_treez,
        ),
        WebhookDialect(
            provider="flowhub",
            events={FLOWHUB_POSTBACK: EventKind.ORDER},
            registration=Registration.PER_ORDER,
            instructions="Nothing to register: Flowhub posts order status changes to the "
            "postbackUrl sent with each order, which is this URL. Flowhub pushes no catalog "
            "changes; the catalog follows on the sync schedule.",
            read=_read_flowhub,
        ),
    )
}


def dialect_of(provider: str) -> WebhookDialect:
    """The provider's webhook dialect; `PosWebhooksUnsupported` for a POS that pushes nothing."""
    dialect = DIALECTS.get(provider)
    if dialect is None:
        raise PosWebhooksUnsupported(details={"provider": provider})
    return dialect
