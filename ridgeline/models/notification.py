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
    # A pending alert fires at this time unless its condition clears first (its rule's `for`).
    fires_at: Mapped[datetime | None] = mapped_column(default=None)
    # The notification group it is announced in (alerts/grouping.py); None while pending.
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="SET NULL"), index=True, default=None
    )
    # When a notification about it was first queued: only alerts people heard of are
    # announced resolved.
    notified_at: Mapped[datetime | None] = mapped_column(default=None)
    # Why it is held back from notifications, as of the group's last flush: `silence:{id}`
    # or `inhibited_by:{alert id}`; None when it is not.
    suppressed_by: Mapped[str | None] = mapped_column(String(100), default=None)


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


class AlertRuleOverride(EntityMixin, Base):
    """An organization's (or one store's) settings for a built-in rule (alerts/rules.py): what
    is set here wins over the rule's default; a store's over its organization's."""

    __tablename__ = "alert_rule_overrides"
    __table_args__ = (
        Index(
            "uq_alert_rule_overrides_organization_rule",
            "organization_id",
            "rule",
            unique=True,
            postgresql_where=text("store_id IS NULL"),
            sqlite_where=text("store_id IS NULL"),
        ),
        Index("uq_alert_rule_overrides_store_rule", "store_id", "rule", unique=True),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID | None] = store_column(default=None)
    rule: Mapped[str] = mapped_column(String(64))
    # Only the settings given: {"threshold": 5, "for_s": 300, "enabled": false, ...}.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class AlertGroup(EntityMixin, Base):
    """Alerts announced together (alerts/grouping.py): one organization's alerts of one rule by
    default. It is open from its first firing alert until all of them resolved (and whoever
    heard of them was told); a later alert of the rule opens a new group. Only the flush
    (`alerts.notify`) writes an existing group, so raising an alert never waits on one."""

    __tablename__ = "alert_groups"
    __table_args__ = (
        Index(
            "uq_alert_groups_open_key",
            "organization_id",
            "group_key",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    organization_id: Mapped[uuid.UUID] = organization_column()
    group_key: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(64))
    last_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the last notification said (its alerts and their states), to send only changes.
    last_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    last_state: Mapped[str | None] = mapped_column(String(16), default=None)
    notifications: Mapped[int] = mapped_column(default=0, server_default="0")
    # Every channel told about the group so far: they all hear of its resolution.
    notified_channel_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alert_escalation_policies.id", ondelete="SET NULL"), default=None
    )
    escalation_level: Mapped[int] = mapped_column(default=0, server_default="0")
    next_escalation_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class AlertSilence(EntityMixin, Base):
    """Mutes the alerts its matchers select between `starts_at` and `ends_at`: they still exist
    and move through their states, but no notification mentions them."""

    __tablename__ = "alert_silences"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    organization_id: Mapped[uuid.UUID] = organization_column()
    # [{"label": "rule", "op": "=", "value": "sync_failed"}, ...], all must match.
    matchers: Mapped[list[dict[str, str]]] = mapped_column(JSONDocument)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    # Set when an operator ends it before `ends_at`.
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class AlertEscalationPolicy(EntityMixin, Base):
    """Who hears of an unacknowledged alert, level by level: each level's channels are told
    `delay_s` after the level before them, until someone acknowledges."""

    __tablename__ = "alert_escalation_policies"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    organization_id: Mapped[uuid.UUID] = organization_column()
    name: Mapped[str] = mapped_column(String(100))
    # [{"delay_s": 0, "channel_ids": ["..."]}, {"delay_s": 900, "channel_ids": [...]}]
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    # The rules it covers; empty: every rule that no other policy names (the default policy).
    rules: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
