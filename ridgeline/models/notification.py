from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import (
    Base,
    EntityMixin,
    IdMixin,
    JSONDocument,
    organization_column,
    store_column,
)


class AdminNotification(EntityMixin, Base):
    """Something an operator must hear about (a failed sync, a store in error, ...). An alert with a
    `dedup_key` is raised once while open and resolved by what fixes its cause."""

    __tablename__ = "admin_notifications"
    __table_args__ = (
        # At most one open alert per dedup key: raising it again counts another occurrence.
        Index(
            "uq_admin_notifications_open_dedup_key",
            "dedup_key",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID | None] = store_column(index=True, default=None)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    # What makes two raises the same alert (`store_health:{store}:{cause}`); None: every raise
    # is its own alert.
    dedup_key: Mapped[str | None] = mapped_column(String(200), default=None)
    occurrences: Mapped[int] = mapped_column(default=1, server_default="1")
    last_occurred_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # alerts/lifecycle.py: pending, firing, acknowledged, resolved.
    state: Mapped[str] = mapped_column(String(16), default="firing", server_default="firing")
    # How many times it fired again after resolving within the flap window.
    flaps: Mapped[int] = mapped_column(default=0, server_default="0")


class AlertEvent(IdMixin, Base):
    """One step of an alert's timeline: raised, each change of state, with who and why."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("uq_alert_events_alert_id", "alert_id", "seq", unique=True),)
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    organization_id: Mapped[uuid.UUID] = organization_column()
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("admin_notifications.id", ondelete="CASCADE")
    )
    seq: Mapped[int]  # 1, 2, ... in the alert's order (two steps may share a time)
    at: Mapped[datetime]
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str] = mapped_column(String(16))
    move: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
