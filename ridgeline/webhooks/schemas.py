"""Request and response bodies of the POS webhook endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ridgeline.models.pos_event import PosEvent
from ridgeline.pos.base import EventKind, Registration
from ridgeline.pos.registry import webhook_source


class PosEventReceived(BaseModel):
    event_id: uuid.UUID = Field(description="Our id of the stored event.")
    duplicate: bool = Field(description="The POS had delivered this event before.")


class PosEventOut(BaseModel):
    id: uuid.UUID
    source: str = Field(description="The POS dialect that pushed it.")
    external_id: str = Field(description="`<store id>:<the POS's event id>`.")
    event_type: str
    kind: EventKind | None = Field(description="product or order; null for an unknown type.")
    received_at: datetime
    processed_at: datetime | None
    outcome: str | None = Field(
        description="What processing did (`incremental synced; inventory synced`, `... read "
        "by a run that started after it`, the order's move, `unknown order`, ...); null before "
        "it is processed, or when processing failed (see error)."
    )
    error: str | None
    payload: dict[str, Any] = Field(description="The body as the POS sent it.")

    @classmethod
    def of(cls, event: PosEvent) -> PosEventOut:
        source = webhook_source(event.source)
        kind = source.event_kind(event.event_type) if source is not None else None
        return cls(
            id=event.id,
            source=event.source,
            external_id=event.external_id,
            event_type=event.event_type,
            kind=kind,
            received_at=event.received_at,
            processed_at=event.processed_at,
            outcome=event.outcome if event.error is None else None,
            error=event.error,
            payload=event.payload,
        )


class PosWebhookSetup(BaseModel):
    provider: str
    url: str = Field(description="Our URL for this store's events, token included: a secret.")
    events: list[str] = Field(description="The event types this POS pushes.")
    registration: Registration = Field(
        description="api: POST this endpoint registers the URL; vendor_portal: enter it in "
        "the vendor's portal; per_order: it travels with each order."
    )
    instructions: str
    registered: bool = Field(
        default=False, description="POST only: whether the URL was registered with the POS."
    )
    shop_id: str | None = Field(
        default=None, description="The POS shop the events come from, when known (BLAZE)."
    )


class PosWebhookTokenRotated(PosWebhookSetup):
    previous_token_valid_until: datetime | None = Field(
        description="Until when the replaced token is still accepted: give the POS the new URL "
        "before then (POST /pos/webhooks where registration is api). None: the replaced token "
        "could not be read and is no longer accepted."
    )
