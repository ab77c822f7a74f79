"""Atlassian Statuspage's public API v2 shapes (`/api/v2/*.json`): field for field what its
clients read, without our envelope. Ids are strings; times are ISO 8601 with their offset."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from ridgeline.models.status import ComponentStatus, IncidentImpact

Indicator = Literal["none", "minor", "major", "critical"]
IncidentStatusValue = Literal["investigating", "identified", "monitoring", "resolved"]
MaintenanceStatusValue = Literal["scheduled", "in_progress", "verifying", "completed"]
UpdateStatusValue = Literal[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
]


class StatuspagePage(BaseModel):
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: datetime


class StatuspageStatus(BaseModel):
    indicator: Indicator
    description: str


class StatuspageComponent(BaseModel):
    id: str
    name: str
    status: ComponentStatus
    created_at: datetime
    updated_at: datetime
    position: int
    description: str | None
    showcase: bool = Field(description="Whether the page shows the component's uptime.")
    start_date: date | None
    group_id: str | None
    page_id: str
    group: bool
    only_show_if_degraded: bool


class StatuspageAffectedComponent(BaseModel):
    code: str = Field(description="The component's id.")
    name: str
    old_status: ComponentStatus | None
    new_status: ComponentStatus


class StatuspageIncidentUpdate(BaseModel):
    id: str
    status: UpdateStatusValue
    body: str
    incident_id: str
    created_at: datetime
    updated_at: datetime
    display_at: datetime
    affected_components: list[StatuspageAffectedComponent] | None = Field(
        description="The components this update changed (null: none)."
    )
    deliver_notifications: bool
    custom_tweet: str | None
    tweet_id: str | None


class StatuspageIncident(BaseModel):
    id: str
    name: str
    status: IncidentStatusValue
    created_at: datetime
    updated_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    impact: IncidentImpact
    shortlink: str
    started_at: datetime
    page_id: str
    incident_updates: list[StatuspageIncidentUpdate] = Field(description="Newest first.")
    components: list[StatuspageComponent] = Field(
        description="The affected components, each with its current status."
    )


class StatuspageScheduledMaintenance(BaseModel):
    id: str
    name: str
    status: MaintenanceStatusValue
    created_at: datetime
    updated_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    impact: Literal["none", "minor", "major", "critical", "maintenance"]
    shortlink: str
    started_at: datetime
    page_id: str
    incident_updates: list[StatuspageIncidentUpdate] = Field(description="Newest first.")
    components: list[StatuspageComponent]
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    scheduled_remind_prior: bool
    scheduled_reminded_at: datetime | None
    impact_override: IncidentImpact | None
    scheduled_auto_in_progress: bool
    scheduled_auto_completed: bool


class StatuspageSummary(BaseModel):
    page: StatuspagePage
    status: StatuspageStatus
    components: list[StatuspageComponent]
    incidents: list[StatuspageIncident] = Field(description="Unresolved incidents, newest first.")
    scheduled_maintenances: list[StatuspageScheduledMaintenance] = Field(
        description="Upcoming and in-progress maintenance, soonest first."
    )


class StatuspageStatusOut(BaseModel):
    page: StatuspagePage
    status: StatuspageStatus


class StatuspageComponents(BaseModel):
    page: StatuspagePage
    components: list[StatuspageComponent]


class StatuspageIncidents(BaseModel):
    page: StatuspagePage
    incidents: list[StatuspageIncident]


class StatuspageScheduledMaintenances(BaseModel):
    page: StatuspagePage
    scheduled_maintenances: list[StatuspageScheduledMaintenance]
