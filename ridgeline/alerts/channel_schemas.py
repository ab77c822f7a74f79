"""What the API takes and answers about alert channels and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ridgeline.api.schemas import RequestBody
from ridgeline.models.alert_channel import ChannelKind, DeliveryStatus

CONFIG_DESCRIPTION = (
    "The kind's settings (docs/alerting.md); unknown keys are refused. Secrets are stored "
    "encrypted and answered as ********; sending ******** back keeps the stored secret."
)


class ChannelCreate(RequestBody):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Required for platform admins; defaults to your organization."
    )
    name: str = Field(min_length=1, max_length=100)
    kind: ChannelKind
    config: dict[str, Any] = Field(default_factory=dict, description=CONFIG_DESCRIPTION)
    enabled: bool = True


class ChannelUpdate(RequestBody):
    """The whole channel but its kind (a channel of another kind is a new channel)."""

    name: str = Field(min_length=1, max_length=100)
    config: dict[str, Any] = Field(default_factory=dict, description=CONFIG_DESCRIPTION)
    enabled: bool = True


class ChannelOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    kind: ChannelKind
    config: dict[str, Any] = Field(description="Secrets are shown as ********.")
    enabled: bool
    created_at: datetime
    updated_at: datetime


class DeliveryAttemptOut(BaseModel):
    attempt: int
    at: datetime
    outcome: str  # sent, failed
    status_code: int | None = Field(description="HTTP status, or SMTP reply code for email.")
    error: str | None
    duration_ms: float


class DeliveryOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    alert_id: uuid.UUID | None = Field(description="None for a test notification.")
    dedup_key: str
    status: DeliveryStatus
    attempts: int
    status_code: int | None
    error: str | None
    duration_ms: float | None
    created_at: datetime
    sent_at: datetime | None
    notification: dict[str, Any]
    attempt_log: list[DeliveryAttemptOut] = Field(description="Every attempt, oldest first.")


class QueuedTest(BaseModel):
    """A test notification waiting for its delivery job."""

    delivery_id: uuid.UUID
    status: DeliveryStatus
