"""The status page's read side: the public summary, incidents and uptime, built from the rows
(one place, so the JSON API, the Statuspage-shaped API, the feed and the page agree)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.status import (
    ComponentStatus,
    IncidentImpact,
    IncidentKind,
    IncidentStatus,
    StatusComponent,
    StatusIncident,
    StatusIncidentUpdate,
)
from ridgeline.status import repository, uptime
from ridgeline.status.components import BY_KEY, SEVERITY
from ridgeline.status.schemas import (
    AffectedComponentOut,
    ComponentAdminOut,
    ComponentOut,
    ComponentUptimeOut,
    IncidentComponentOut,
    IncidentOut,
    IncidentUpdateOut,
    OverallOut,
    PageOut,
    StatusSummary,
    UptimeDayOut,
)

PAGE_ID = "ridgeline"
INDICATOR_OF_STATUS = {
    ComponentStatus.OPERATIONAL: "none",
    ComponentStatus.UNDER_MAINTENANCE: "none",
    ComponentStatus.DEGRADED_PERFORMANCE: "minor",
    ComponentStatus.PARTIAL_OUTAGE: "major",
    ComponentStatus.MAJOR_OUTAGE: "critical",
}
INDICATOR_RANK = {"none": 0, "minor": 1, "major": 2, "critical": 3}
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Partially Degraded Service",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
UNDER_MAINTENANCE = "Service Under Maintenance"


def ordered(components: Sequence[StatusComponent]) -> list[StatusComponent]:
    """The components this version knows, in their page order."""
    known = [row for row in components if row.key in BY_KEY]
    return sorted(known, key=lambda row: BY_KEY[row.key].position)


def component_out(row: StatusComponent) -> ComponentOut:
    spec = BY_KEY[row.key]
    return ComponentOut(
        id=row.id,
        key=row.key,
        name=spec.name,
        description=spec.description,
        position=spec.position,
        status=row.status,
        status_since=row.status_since,
        reason=row.reason,
        created_at=row.created_at,
        # When what the public sees last moved: the row itself is written at every evaluation.
        updated_at=max(row.status_since, row.created_at),
    )


def component_admin_out(row: StatusComponent) -> ComponentAdminOut:
    return ComponentAdminOut(
        **component_out(row).model_dump(),
        derived_status=row.derived_status,
        evidence=row.evidence,
        evaluated_at=row.evaluated_at,
        override_status=row.override_status,
        override_until=row.override_until,
        override_reason=row.override_reason,
        override_by=row.override_by,
    )


def _name(key: str) -> str:
    spec = BY_KEY.get(key)
    return spec.name if spec is not None else key


def update_out(update: StatusIncidentUpdate) -> IncidentUpdateOut:
    return IncidentUpdateOut(
        id=update.id,
        status=update.status,
        body=update.body,
        created_at=update.created_at,
        display_at=update.display_at,
        affected_components=[
            AffectedComponentOut(
                key=item["key"],
                name=_name(item["key"]),
                old_status=item.get("old_status"),
                new_status=item["new_status"],
            )
            for item in update.affected_components
            if item.get("key") in BY_KEY
        ],
    )


def incident_out(incident: StatusIncident, updates: Sequence[StatusIncidentUpdate]) -> IncidentOut:
    return IncidentOut(
        id=incident.id,
        kind=incident.kind,
        name=incident.name,
        status=incident.status,
        impact=incident.impact,
        components=[
            IncidentComponentOut(
                key=key,
                name=_name(key),
                status=declared if isinstance(declared, str) else None,
            )
            for key, declared in sorted(
                incident.components.items(), key=lambda item: _position(item[0])
            )
            if key in BY_KEY
        ],
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        published_at=incident.published_at,
        started_at=incident.started_at,
        monitoring_at=incident.monitoring_at,
        resolved_at=incident.resolved_at,
        scheduled_for=incident.scheduled_for,
        scheduled_until=incident.scheduled_until,
        auto_transition=incident.auto_transition,
        draft=incident.published_at is None,
        source=incident.source,
        updates=[update_out(update) for update in updates],
    )


def _position(key: str) -> int:
    spec = BY_KEY.get(key)
    return spec.position if spec is not None else 1_000


async def incidents_out(
    session: AsyncSession, incidents: Sequence[StatusIncident]
) -> list[IncidentOut]:
    updates = await repository.updates_of(session, [incident.id for incident in incidents])
    return [incident_out(incident, updates[incident.id]) for incident in incidents]


def overall(components: Sequence[ComponentOut], incidents: Sequence[IncidentOut]) -> OverallOut:
    """The page's indicator: the worst of the components' statuses and the open incidents'
    impacts (Statuspage's none / minor / major / critical)."""
    indicator = "none"
    for component in components:
        candidate = INDICATOR_OF_STATUS[component.status]
        if INDICATOR_RANK[candidate] > INDICATOR_RANK[indicator]:
            indicator = candidate
    for incident in incidents:
        if INDICATOR_RANK[incident.impact.value] > INDICATOR_RANK[indicator]:
            indicator = incident.impact.value
    description = DESCRIPTIONS[indicator]
    if indicator == "none" and any(
        c.status is ComponentStatus.UNDER_MAINTENANCE for c in components
    ):
        description = UNDER_MAINTENANCE
    return OverallOut(indicator=indicator, description=description)


async def summary(session: AsyncSession, *, page_name: str, page_url: str) -> StatusSummary:
    """Everything the page shows now but the uptime history."""
    rows = ordered(await repository.components(session))
    components = [component_out(row) for row in rows]
    open_items = await incidents_out(
        session, await repository.open_incidents(session, published_only=True)
    )
    incidents = [i for i in open_items if i.kind is IncidentKind.INCIDENT]
    maintenance = sorted(
        (i for i in open_items if i.kind is IncidentKind.MAINTENANCE),
        key=lambda i: (i.scheduled_for or i.created_at, i.id),
    )
    incidents.sort(key=lambda i: (i.created_at, i.id), reverse=True)
    stamps = [c.updated_at for c in components] + [i.updated_at for i in open_items]
    return StatusSummary(
        page=PageOut(
            id=PAGE_ID,
            name=page_name,
            url=page_url,
            updated_at=max(stamps, default=datetime(2026, 1, 1, tzinfo=UTC)),
        ),
        status=overall(components, incidents),
        components=components,
        incidents=incidents,
        scheduled_maintenances=maintenance,
    )


async def uptime_out(session: AsyncSession, now: datetime) -> list[ComponentUptimeOut]:
    rows = ordered(await repository.components(session))
    found = await uptime.history(session, rows, now.astimezone(UTC).date())
    return [
        ComponentUptimeOut(
            key=row.key,
            name=BY_KEY[row.key].name,
            percent=found[row.key].percent,
            days=[
                UptimeDayOut(
                    date=day.day,
                    uptime=day.uptime,
                    downtime_s=round(day.downtime_s, 3),
                    worst=day.worst,
                    seconds=day.seconds,
                )
                for day in found[row.key].days
            ],
        )
        for row in rows
    ]


def worst_impact(statuses: Sequence[ComponentStatus]) -> IncidentImpact:
    """An incident's impact when the operator gives none: from its worst declared status."""
    worst = max(statuses, key=lambda s: SEVERITY.get(s, 0), default=ComponentStatus.OPERATIONAL)
    return IncidentImpact(INDICATOR_OF_STATUS[worst])


CLOSED = (IncidentStatus.RESOLVED, IncidentStatus.COMPLETED)
