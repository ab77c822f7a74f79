"""Reading the bodies a POS pushes, shared by the adapters' `WebhookSource` readers: strict for
a body as it arrives (`PosEventInvalid` stores nothing), lenient for an order update read out of a
stored payload (a missing field reads as None)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ridgeline.errors import PosEventInvalid
from ridgeline.pos.base import MAX_EVENT_ID_LENGTH, EventKind, OrderUpdate, PosOrderStatus


def event_text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    # Some POSes number their events; an id is compared as text either way.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise PosEventInvalid(details={"reason": f"{key} is missing or not a string"})
    return value.strip()


def event_id(value: str) -> str:
    if len(value) > MAX_EVENT_ID_LENGTH:
        raise PosEventInvalid(
            details={"reason": f"the event id is longer than {MAX_EVENT_ID_LENGTH} characters"}
        )
    return value


def event_kind(events: Mapping[str, EventKind], key: str, event_type: str) -> EventKind:
    kind = events.get(event_type)
    if kind is None:
        raise PosEventInvalid(
            details={"reason": f"unknown {key} {event_type!r}; one of: {', '.join(events)}"}
        )
    return kind


def loose_text(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def data_section(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's `data` object (the record it is about), or an empty one."""
    data = payload.get("data")
    return data if isinstance(data, Mapping) else {}


def order_update(
    document: Mapping[str, Any],
    status_of: Callable[[str | None], PosOrderStatus | None],
    *,
    pos_order_id: str,
    reference: str,
    status: str,
) -> OrderUpdate:
    """The order update in a stored event's record, read by the keys its dialect names; the
    vendor status mapped with the adapter's own table (`status_of`)."""
    vendor_status = loose_text(document, status)
    return OrderUpdate(
        loose_text(document, pos_order_id),
        loose_text(document, reference),
        vendor_status,
        status_of(vendor_status),
    )
