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
    fires_at: datetime | None  # a pending alert fires then unless its condition clears
    group_id: uuid.UUID | None  # the notification group announcing it
    notified_at: datetime | None  # when a notification first told of it
    # Why notifications leave it out: `silence:{id}` or `inhibited_by:{alert id}`.
    suppressed_by: str | None


class AlertEventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    move: str  # raised, for_elapsed, acknowledged, cleared, resolved_by_operator, flapped
    actor: str | None
    note: str | None


class AlertDeliveryOut(BaseModel):
    """A notification of the alert's group to one channel (GET /api/v1/alert-channels/{id}/
    deliveries has every attempt)."""

    id: uuid.UUID
    channel_id: uuid.UUID
    state: str  # what it told: firing, acknowledged, resolved
    status: str  # queued, sent, failed, dead
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


class AlertDetail(AlertOut):
    timeline: list[AlertEventOut]
    deliveries: list[AlertDeliveryOut]  # newest first, at most 50


class AlertGroupOut(BaseModel):
    id: uuid.UUID
    rule: str
    group_key: str
    open: bool
    counts: dict[str, int]  # its alerts by state
    notifications: int  # notifications sent (escalations not counted)
    last_notified_at: datetime | None
    last_state: str | None  # what the last notification told
    notified_channel_ids: list[uuid.UUID]  # everyone who heard: they hear the resolution
    escalation_policy_id: uuid.UUID | None
    escalation_level: int  # the policy level reached (0: the first)
    next_escalation_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
