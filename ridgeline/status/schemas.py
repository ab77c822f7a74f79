"""What the status page's API takes and gives. Public shapes carry no tenant data: components,
incidents and uptime only."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from ridgeline.models.status import (
    ComponentStatus,
    IncidentImpact,
    IncidentKind,
    IncidentStatus,
)
from ridgeline.status.components import BY_KEY

Indicator = Literal["none", "minor", "major", "critical"]
INCIDENT_STATUSES = (
    IncidentStatus.INVESTIGATING,
    IncidentStatus.IDENTIFIED,
    IncidentStatus.MONITORING,
    IncidentStatus.RESOLVED,
)
MAINTENANCE_STATUSES = (
    IncidentStatus.SCHEDULED,
    IncidentStatus.IN_PROGRESS,
    IncidentStatus.VERIFYING,
    IncidentStatus.COMPLETED,
)


class PageOut(BaseModel):
    id: str
    name: str
    url: str
    time_zone: str = "Etc/UTC"
    updated_at: datetime


class OverallOut(BaseModel):
    indicator: Indicator
    description: str


class ComponentOut(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    description: str
    position: int
    status: ComponentStatus
    status_since: datetime
    reason: str = Field(description="Why the rules find this status (public: shares, no store).")
    created_at: datetime
    updated_at: datetime


class ComponentAdminOut(ComponentOut):
    """What operators see: the rules' own finding and its figures, and any override."""

    derived_status: ComponentStatus
    evidence: dict[str, Any]
    evaluated_at: datetime | None
    override_status: ComponentStatus | None
    override_until: datetime | None
    override_reason: str | None
    override_by: str | None


class AffectedComponentOut(BaseModel):
    key: str
    name: str
    old_status: ComponentStatus | None
    new_status: ComponentStatus


class IncidentUpdateOut(BaseModel):
    id: uuid.UUID
    status: IncidentStatus
    body: str
    created_at: datetime
    display_at: datetime
    affected_components: list[AffectedComponentOut]


class IncidentComponentOut(BaseModel):
    key: str
    name: str
    status: ComponentStatus | None = Field(
        description="The status the incident declares for it while open (null: named only)."
    )


class IncidentOut(BaseModel):
    id: uuid.UUID
    kind: IncidentKind
    name: str
    status: IncidentStatus
    impact: IncidentImpact
    components: list[IncidentComponentOut]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    started_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    auto_transition: bool
    draft: bool
    source: str | None
    updates: list[IncidentUpdateOut] = Field(description="Newest first.")


class StatusSummary(BaseModel):
    page: PageOut
    status: OverallOut
    components: list[ComponentOut]
    incidents: list[IncidentOut] = Field(description="Published incidents not yet resolved.")
    scheduled_maintenances: list[IncidentOut] = Field(
        description="Published maintenance not yet completed: upcoming and in progress."
    )


class UptimeDayOut(BaseModel):
    date: date
    uptime: float | None = Field(description="0..1 of the watched time; null: no data.")
    downtime_s: float
    worst: ComponentStatus | None
    seconds: dict[str, float]


class ComponentUptimeOut(BaseModel):
    key: str
    name: str
    percent: float | None = Field(description="Over the days with data (null: none).")
    days: list[UptimeDayOut] = Field(description="The last 90 UTC days, oldest first.")


# Operator input.


def _known_components(keys: list[str] | dict[str, Any]) -> None:
    unknown = sorted(set(keys) - BY_KEY.keys())
    if unknown:
        raise ValueError(f"unknown components {unknown}; known: {sorted(BY_KEY)}")


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ComponentStatus
    until: AwareDatetime | None = Field(
        default=None, description="When the override ends by itself (null: until removed)."
    )
    reason: str = Field(min_length=1, max_length=500)


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    impact: IncidentImpact | None = Field(
        default=None, description="Null: follows from the worst declared component status."
    )
    body: str = Field(min_length=1, max_length=10_000)
    components: dict[str, ComponentStatus] = Field(
        default_factory=dict,
        description="Affected components and the status each shows while the incident is open.",
    )
    publish: bool = Field(default=True, description="False: saved as a draft, not public.")

    @field_validator("status")
    @classmethod
    def _incident_status(cls, value: IncidentStatus) -> IncidentStatus:
        if value not in INCIDENT_STATUSES:
            raise ValueError(
                f"an incident's status is one of {[s.value for s in INCIDENT_STATUSES]}"
            )
        return value

    @field_validator("components")
    @classmethod
    def _components(cls, value: dict[str, ComponentStatus]) -> dict[str, ComponentStatus]:
        _known_components(value)
        if ComponentStatus.UNDER_MAINTENANCE in value.values():
            raise ValueError("under_maintenance comes from scheduled maintenance")
        return value


class MaintenanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10_000)
    components: list[str] = Field(min_length=1, max_length=len(BY_KEY))
    scheduled_for: AwareDatetime
    scheduled_until: AwareDatetime
    auto_transition: bool = Field(
        default=True, description="Start and complete by itself on its window."
    )

    @field_validator("components")
    @classmethod
    def _components(cls, value: list[str]) -> list[str]:
        _known_components(value)
        return list(dict.fromkeys(value))

    @field_validator("scheduled_until")
    @classmethod
    def _window(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("scheduled_for")
        if isinstance(start, datetime) and value <= start:
            raise ValueError("must be after scheduled_for")
        return value


class IncidentUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IncidentStatus
    body: str = Field(min_length=1, max_length=10_000)
    components: dict[str, ComponentStatus] | None = Field(
        default=None,
        description="Incidents only: the affected components' declared statuses from now on.",
    )
    impact: IncidentImpact | None = None

    @field_validator("components")
    @classmethod
    def _components(
        cls, value: dict[str, ComponentStatus] | None
    ) -> dict[str, ComponentStatus] | None:
        if value is not None:
            _known_components(value)
            if ComponentStatus.UNDER_MAINTENANCE in value.values():
                raise ValueError("under_maintenance comes from scheduled maintenance")
        return value


class IncidentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    impact: IncidentImpact | None = None
    scheduled_for: AwareDatetime | None = None
    scheduled_until: AwareDatetime | None = None
