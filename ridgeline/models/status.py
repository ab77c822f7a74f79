"""The public status page: components and their status history, incidents and scheduled
maintenance (status/). System tables: they describe Ridgeline itself, never a tenant, and
nothing in them names a retailer or a store."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin, IdMixin, JSONDocument, StrEnumType


class ComponentStatus(StrEnum):
    """Statuspage's component statuses (reliability.md point 19)."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


class IncidentKind(StrEnum):
    INCIDENT = "incident"
    MAINTENANCE = "maintenance"


class IncidentStatus(StrEnum):
    """Statuspage's incident statuses, and those of its scheduled maintenance."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


class IncidentImpact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class StatusComponent(EntityMixin, Base):
    """One part of Ridgeline as the public sees it. The list is fixed in code
    (status/components.py); a row holds what its evaluations found and an operator's override."""

    __tablename__ = "status_components"

    key: Mapped[str] = mapped_column(String(40), unique=True)
    # What the rules found (status/rules.py) and why: `reason` is public-safe (counts and
    # shares, never a store), `evidence` is the figures, for operators.
    derived_status: Mapped[ComponentStatus] = mapped_column(StrEnumType(ComponentStatus, 24))
    reason: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # What the page shows: the override, else maintenance, else the worse of the rules and the
    # open incidents' declared statuses (status/service.py).
    status: Mapped[ComponentStatus] = mapped_column(StrEnumType(ComponentStatus, 24))
    status_since: Mapped[datetime]
    override_status: Mapped[ComponentStatus | None] = mapped_column(
        StrEnumType(ComponentStatus, 24), default=None
    )
    override_until: Mapped[datetime | None] = mapped_column(default=None)
    override_reason: Mapped[str | None] = mapped_column(Text, default=None)
    override_by: Mapped[str | None] = mapped_column(String(200), default=None)
    evaluated_at: Mapped[datetime | None] = mapped_column(default=None)


class StatusComponentChange(IdMixin, Base):
    """A component's status from `at` on: the history that uptime is computed from."""

    __tablename__ = "status_component_changes"
    __table_args__ = (Index("ix_status_component_changes_component_at", "component_id", "at"),)

    component_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("status_components.id", ondelete="CASCADE")
    )
    at: Mapped[datetime]
    status: Mapped[ComponentStatus] = mapped_column(StrEnumType(ComponentStatus, 24))


class StatusUptimeDay(Base):
    """Seconds a component spent in each status during one UTC day (the day's roll-up of its
    changes); kept 90 days."""

    __tablename__ = "status_uptime_days"

    component_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("status_components.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    seconds: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    updated_at: Mapped[datetime]


class StatusIncident(EntityMixin, Base):
    """An incident or a scheduled maintenance, as Statuspage has both. A draft (proposed by an
    alert or a component's outage) has no `published_at` and is not public."""

    __tablename__ = "status_incidents"
    __table_args__ = (Index("ix_status_incidents_kind_status", "kind", "status"),)

    kind: Mapped[IncidentKind] = mapped_column(StrEnumType(IncidentKind, 16))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[IncidentStatus] = mapped_column(StrEnumType(IncidentStatus, 16))
    impact: Mapped[IncidentImpact] = mapped_column(StrEnumType(IncidentImpact, 16))
    # Affected component keys and the status each is declared in while the incident is open.
    components: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    published_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    monitoring_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_until: Mapped[datetime | None] = mapped_column(default=None)
    # Maintenance: whether the evaluator moves it to in_progress and completed on its window.
    auto_transition: Mapped[bool] = mapped_column(default=True)
    # What proposed a draft (`alert:{id}`, `component:{key}`): one open incident per source.
    source: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    created_by: Mapped[str | None] = mapped_column(String(200), default=None)


class StatusIncidentUpdate(IdMixin, Base):
    """One message of an incident, with the status it moved to."""

    __tablename__ = "status_incident_updates"
    __table_args__ = (Index("ix_status_incident_updates_incident_at", "incident_id", "created_at"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("status_incidents.id", ondelete="CASCADE")
    )
    status: Mapped[IncidentStatus] = mapped_column(StrEnumType(IncidentStatus, 16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    display_at: Mapped[datetime]
    # [{"key", "old_status", "new_status"}]: the components this update changed.
    affected_components: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    created_by: Mapped[str | None] = mapped_column(String(200), default=None)
