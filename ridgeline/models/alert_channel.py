from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin, IdMixin, StrEnumType, organization_column


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"  # signed JSON POST
    SLACK = "slack"  # Slack-compatible incoming webhook
    PAGERDUTY = "pagerduty"  # PagerDuty Events API v2 shape
    EMAIL = "email"  # SMTP
    OPS = "ops"  # the organization's ops stream (no call out)


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # waiting for its job (first attempt or a retry)
    SENT = "sent"
    FAILED = "failed"  # the last attempt failed; the job retries it with backoff
    DEAD = "dead"  # out of attempts, or the channel cannot be used


class AlertChannel(EntityMixin, Base):
    """Where an organization's alert notifications go. The kind's config (alerts/channels.py)
    is stored encrypted, secrets included, and never answered back in clear."""

    __tablename__ = "alert_channels"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    organization_id: Mapped[uuid.UUID] = organization_column()
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[ChannelKind] = mapped_column(StrEnumType(ChannelKind, 16))
    config_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)


class AlertDelivery(EntityMixin, Base):
    """One notification to one channel, and where its attempts stand (the last one's result;
    every attempt is an `AlertDeliveryAttempt`)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_channel_id_created_at", "channel_id", "created_at"),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    organization_id: Mapped[uuid.UUID] = organization_column()
    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="CASCADE")
    )
    # The first alert the notification is about; None for a test notification.
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("admin_notifications.id", ondelete="SET NULL"), default=None
    )
    # The notification group it announces (None for a test notification).
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="SET NULL"), index=True, default=None
    )
    dedup_key: Mapped[str] = mapped_column(String(255))
    # The `Notification` as sent (alerts/channels.py), rendered by each attempt.
    notification: Mapped[dict[str, Any]]
    status: Mapped[DeliveryStatus] = mapped_column(
        StrEnumType(DeliveryStatus, 16), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # The last attempt's HTTP status or SMTP reply code, error and duration.
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float | None] = mapped_column(Float, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class AlertDeliveryAttempt(IdMixin, Base):
    """One try at a delivery: when, how it ended, what the receiver answered, how long."""

    __tablename__ = "alert_delivery_attempts"
    __table_args__ = (
        Index("uq_alert_delivery_attempts_delivery_id", "delivery_id", "attempt", unique=True),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    organization_id: Mapped[uuid.UUID] = organization_column()
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int]  # the job's attempt, 1-based
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))  # sent, failed
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float] = mapped_column(Float)
