"""What the API answers about an operator alert."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AlertOut(BaseModel):
    id: uuid.UUID
    store_id: uuid.UUID | None
    kind: str  # `order_failed`, `sync_failed`, ...
    severity: str  # `info`, `warning`, `critical`
    state: str  # `pending`, `firing`, `acknowledged` (a person took it), `resolved`
    title: str
    message: str
    details: dict[str, Any]
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    occurrences: int  # raises while it was open (one per failed sync run, ...)
    last_occurred_at: datetime
    flaps: int  # times it fired again soon after resolving


class AlertEventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    move: str  # raised, for_elapsed, acknowledged, cleared, resolved_by_operator, flapped
    actor: str | None
    note: str | None


class AlertDetail(AlertOut):
    timeline: list[AlertEventOut]
