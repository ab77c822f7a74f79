"""What operators do on the status page: incidents and their updates, scheduled maintenance,
publishing or discarding a draft, and overriding a component for a while. Each action sets the
components' shown statuses again at once (status/service.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.errors import IncidentClosed, IncidentPublished, NotFound, ValidationFailed
from ridgeline.models.status import (
    ComponentStatus,
    IncidentImpact,
    IncidentKind,
    IncidentStatus,
    StatusComponent,
    StatusIncident,
)
from ridgeline.status import repository, service
from ridgeline.status.schemas import (
    INCIDENT_STATUSES,
    MAINTENANCE_STATUSES,
    IncidentIn,
    IncidentPatch,
    IncidentUpdateIn,
    MaintenanceIn,
    OverrideIn,
)
from ridgeline.status.views import CLOSED, worst_impact


async def _incident(session: AsyncSession, incident_id: uuid.UUID) -> StatusIncident:
    incident = await repository.incident(session, incident_id, for_update=True)
    if incident is None:
        raise NotFound("incident", incident_id)
    return incident


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed.for_fields(
        [{"loc": ["body", field], "message": message, "type": "value_error"}]
    )


async def _affected(
    session: AsyncSession, now: datetime, declared: dict[str, ComponentStatus]
) -> list[dict[str, str]]:
    rows = await service.ensure_components(session, now)
    return [
        {"key": key, "old_status": rows[key].status.value, "new_status": status.value}
        for key, status in declared.items()
    ]


async def create_incident(
    session: AsyncSession, data: IncidentIn, *, actor: str, now: datetime
) -> StatusIncident:
    impact = data.impact or worst_impact(list(data.components.values()))
    incident = StatusIncident(
        kind=IncidentKind.INCIDENT,
        name=data.name,
        status=data.status,
        impact=impact,
        components={key: status.value for key, status in data.components.items()},
        published_at=now if data.publish else None,
        started_at=now,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, incident)
    await repository.flush(session)
    affected = await _affected(session, now, data.components)
    service.record_update(
        session, incident, data.status, data.body, now, actor=actor, affected=affected
    )
    await repository.flush(session)
    await service.apply_statuses(session, now)
    return incident


async def create_maintenance(
    session: AsyncSession, data: MaintenanceIn, *, actor: str, now: datetime
) -> StatusIncident:
    if data.scheduled_until <= now:
        raise _field_error("scheduled_until", "the maintenance window has already ended")
    incident = StatusIncident(
        kind=IncidentKind.MAINTENANCE,
        name=data.name,
        status=IncidentStatus.SCHEDULED,
        impact=IncidentImpact.NONE,
        components=dict.fromkeys(data.components),
        published_at=now,
        scheduled_for=data.scheduled_for,
        scheduled_until=data.scheduled_until,
        auto_transition=data.auto_transition,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, incident)
    await repository.flush(session)
    service.record_update(session, incident, IncidentStatus.SCHEDULED, data.body, now, actor=actor)
    await repository.flush(session)
    # A window that has already begun starts at once rather than at the next evaluation.
    await service.transition_maintenance(session, now)
    await service.apply_statuses(session, now)
    return incident


async def add_update(
    session: AsyncSession,
    incident_id: uuid.UUID,
    data: IncidentUpdateIn,
    *,
    actor: str,
    now: datetime,
) -> StatusIncident:
    incident = await _incident(session, incident_id)
    allowed = INCIDENT_STATUSES if incident.kind is IncidentKind.INCIDENT else MAINTENANCE_STATUSES
    if data.status not in allowed:
        raise _field_error(
            "status", f"a {incident.kind.value}'s status is one of {[s.value for s in allowed]}"
        )
    if data.components is not None and incident.kind is IncidentKind.MAINTENANCE:
        raise _field_error("components", "maintenance names its components when scheduled")
    if incident.status in CLOSED and data.status not in CLOSED:
        raise IncidentClosed()
    affected: list[dict[str, str]] = []
    if data.components is not None:
        affected = await _affected(session, now, data.components)
        incident.components = {key: status.value for key, status in data.components.items()}
    if data.impact is not None:
        incident.impact = data.impact
    service.record_update(
        session, incident, data.status, data.body, now, actor=actor, affected=affected
    )
    await repository.flush(session)
    await service.apply_statuses(session, now)
    return incident


async def publish(
    session: AsyncSession, incident_id: uuid.UUID, *, actor: str, now: datetime
) -> StatusIncident:
    """Makes a draft public (a published incident stays as it is)."""
    incident = await _incident(session, incident_id)
    if incident.published_at is None:
        if incident.status in CLOSED:
            raise IncidentClosed("The draft was withdrawn; open a new incident.")
        incident.published_at = now
        incident.updated_at = now
        incident.created_by = incident.created_by if incident.source is None else actor
        await repository.flush(session)
        await service.apply_statuses(session, now)
    return incident


async def discard(session: AsyncSession, incident_id: uuid.UUID) -> None:
    incident = await _incident(session, incident_id)
    if incident.published_at is not None:
        raise IncidentPublished()
    await session.delete(incident)
    await repository.flush(session)


async def patch(
    session: AsyncSession, incident_id: uuid.UUID, data: IncidentPatch, *, now: datetime
) -> StatusIncident:
    incident = await _incident(session, incident_id)
    if data.name is not None:
        incident.name = data.name
    if data.impact is not None:
        incident.impact = data.impact
    if data.scheduled_for is not None or data.scheduled_until is not None:
        if incident.kind is not IncidentKind.MAINTENANCE:
            raise _field_error("scheduled_for", "only maintenance has a window")
        start = data.scheduled_for or incident.scheduled_for
        end = data.scheduled_until or incident.scheduled_until
        if start is None or end is None or end <= start:
            raise _field_error("scheduled_until", "scheduled_until must be after scheduled_for")
        incident.scheduled_for, incident.scheduled_until = start, end
    incident.updated_at = now
    await repository.flush(session)
    await service.transition_maintenance(session, now)
    await service.apply_statuses(session, now)
    return incident


async def _component(session: AsyncSession, key: str) -> StatusComponent:
    row = await repository.component_by_key(session, key, for_update=True)
    if row is None:
        raise NotFound("component", key)
    return row


async def override(
    session: AsyncSession, key: str, data: OverrideIn, *, actor: str, now: datetime
) -> StatusComponent:
    await service.ensure_components(session, now)
    row = await _component(session, key)
    if data.until is not None and data.until <= now:
        raise _field_error("until", "must be in the future")
    row.override_status = data.status
    row.override_until = data.until
    row.override_reason = data.reason
    row.override_by = actor
    row.updated_at = now
    await service.apply_statuses(session, now)
    return row


async def clear_override(session: AsyncSession, key: str, *, now: datetime) -> StatusComponent:
    await service.ensure_components(session, now)
    row = await _component(session, key)
    row.override_status = None
    row.override_until = None
    row.override_reason = None
    row.override_by = None
    row.updated_at = now
    await service.apply_statuses(session, now)
    return row
