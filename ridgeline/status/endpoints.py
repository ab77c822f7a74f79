"""The status page's JSON API: public reads (in our envelope, with ETag/304) and the platform
admins' management of components, incidents and maintenance (docs/status-page.md#api)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from ridgeline.api.dependencies import AuditDep, ClockDep, SessionDep, SettingsDep
from ridgeline.api.pagination import PageDep, paginate
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.audit.service import AuditTrail
from ridgeline.auth.dependencies import PUBLIC, PlatformAdminDep
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.config import Settings
from ridgeline.errors import NotFound
from ridgeline.models.status import IncidentKind, StatusComponent, StatusIncident
from ridgeline.status import incidents, repository, service, views
from ridgeline.status.caching import conditional
from ridgeline.status.schemas import (
    ComponentAdminOut,
    ComponentUptimeOut,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    IncidentUpdateIn,
    MaintenanceIn,
    OverrideIn,
    StatusSummary,
)

router = APIRouter(prefix="/api/v1/status", tags=["status"])
JSON = "application/json"


def page_url(settings: Settings, request: Request) -> str:
    """Where the page is published: the setting, else this server's own `/status`."""
    if settings.status_page_url:
        return settings.status_page_url
    return str(request.base_url).rstrip("/") + "/status"


def _actor(caller: OperatorPrincipal) -> str:
    return f"operator:{caller.operator_id}"


# Public reads.


@router.get("", openapi_extra=PUBLIC, response_model=Envelope[StatusSummary])
async def status_summary(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The page: overall indicator, every component, unresolved incidents and upcoming or
    running maintenance. No sign-in; `If-None-Match` answers 304 when nothing changed."""
    found = await views.summary(
        session, page_name=settings.status_page_name, page_url=page_url(settings, request)
    )
    return conditional(request, envelope(found).model_dump_json().encode(), JSON)


@router.get("/incidents", openapi_extra=PUBLIC, response_model=Page[IncidentOut])
async def incident_history(
    request: Request,
    session: SessionDep,
    page: PageDep,
    kind: Annotated[
        IncidentKind | None, Query(description="`incident` or `maintenance` (default: both).")
    ] = None,
) -> Response:
    """Published incidents and maintenance, newest first, cursor paged."""
    result = await paginate(
        session,
        repository.incidents_query(kind=kind, published_only=True),
        StatusIncident,
        page,
        newest_first=True,
    )
    items = await views.incidents_out(session, result.items)
    body = Page[IncidentOut](
        data=items, meta=PageMeta(next_cursor=result.next_cursor, count=len(items))
    )
    return conditional(request, body.model_dump_json().encode(), JSON)


@router.get("/incidents/{incident_id}", openapi_extra=PUBLIC, response_model=Envelope[IncidentOut])
async def incident_detail(
    incident_id: uuid.UUID, request: Request, session: SessionDep
) -> Response:
    """One published incident or maintenance with all its updates."""
    found = await repository.incident(session, incident_id)
    if found is None or found.published_at is None:
        raise NotFound("incident", incident_id)
    (item,) = await views.incidents_out(session, [found])
    return conditional(request, envelope(item).model_dump_json().encode(), JSON)


@router.get("/uptime", openapi_extra=PUBLIC, response_model=Envelope[list[ComponentUptimeOut]])
async def uptime(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """Each component's last 90 UTC days (seconds per status, uptime) and its percentage."""
    found = await views.uptime_out(session, clock.now())
    return conditional(request, envelope(found).model_dump_json().encode(), JSON)


# Platform admins: components.


@router.get("/components")
async def list_components(
    caller: PlatformAdminDep, session: SessionDep, clock: ClockDep
) -> Envelope[list[ComponentAdminOut]]:
    """Every component with the rules' own finding, its figures and any override."""
    rows = await service.ensure_components(session, clock.now())
    return envelope([views.component_admin_out(row) for row in views.ordered(list(rows.values()))])


@router.post("/evaluate")
async def evaluate_now(
    caller: PlatformAdminDep, session: SessionDep, clock: ClockDep, audit: AuditDep
) -> Envelope[list[ComponentAdminOut]]:
    """Judges every component now instead of at the next scheduled evaluation."""
    before = _shown(await service.ensure_components(session, clock.now()))
    await service.evaluate(session, clock.now())
    rows = await service.ensure_components(session, clock.now())
    await audit.record(caller, "status.evaluate", before=before, after=_shown(rows))
    return envelope([views.component_admin_out(row) for row in views.ordered(list(rows.values()))])


def _shown(rows: Mapping[str, StatusComponent]) -> dict[str, str]:
    """Each component's shown status, by key: what an evaluation may change."""
    return {key: row.status for key, row in rows.items()}


@router.put("/components/{component}/override")
async def override_component(
    component: str,
    body: OverrideIn,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[ComponentAdminOut]:
    """Shows `status` for this component whatever the rules find, until `until` or until
    removed."""
    before = await _component(session, component, clock.now())
    row = await incidents.override(session, component, body, actor=_actor(caller), now=clock.now())
    after = views.component_admin_out(row)
    await audit.record(
        caller, "status.component.override", target=component, before=before, after=after
    )
    return envelope(after)


@router.delete("/components/{component}/override")
async def clear_override(
    component: str,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[ComponentAdminOut]:
    """Hands the component back to its rules."""
    before = await _component(session, component, clock.now())
    row = await incidents.clear_override(session, component, now=clock.now())
    after = views.component_admin_out(row)
    await audit.record(
        caller, "status.component.clear_override", target=component, before=before, after=after
    )
    return envelope(after)


async def _component(session: SessionDep, key: str, now: datetime) -> ComponentAdminOut | None:
    """The component as it is, None for an unknown key (the action answers 404 for it)."""
    row = (await service.ensure_components(session, now)).get(key)
    return None if row is None else views.component_admin_out(row)


# Platform admins: incidents and maintenance.


@router.get("/drafts")
async def list_drafts(
    caller: PlatformAdminDep, session: SessionDep, page: PageDep
) -> Page[IncidentOut]:
    """Incidents proposed by alerts and outages (or saved unpublished), newest first."""
    result = await paginate(
        session, repository.drafts_query(), StatusIncident, page, newest_first=True
    )
    items = await views.incidents_out(session, result.items)
    return Page[IncidentOut](
        data=items, meta=PageMeta(next_cursor=result.next_cursor, count=len(items))
    )


async def _one(session: SessionDep, incident: StatusIncident) -> Envelope[IncidentOut]:
    (item,) = await views.incidents_out(session, [incident])
    return envelope(item)


@router.post("/incidents", status_code=status.HTTP_201_CREATED)
async def create_incident(
    body: IncidentIn,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[IncidentOut]:
    """Opens an incident with its first update; `publish: false` keeps it a draft."""
    found = await incidents.create_incident(session, body, actor=_actor(caller), now=clock.now())
    return await _recorded(session, audit, caller, "status.incident.create", None, found)


@router.post("/maintenances", status_code=status.HTTP_201_CREATED)
async def schedule_maintenance(
    body: MaintenanceIn,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[IncidentOut]:
    """Announces maintenance: public at once, `under_maintenance` on its components while it
    runs."""
    found = await incidents.create_maintenance(session, body, actor=_actor(caller), now=clock.now())
    return await _recorded(session, audit, caller, "status.maintenance.create", None, found)


@router.post("/incidents/{incident_id}/updates", status_code=status.HTTP_201_CREATED)
async def post_update(
    incident_id: uuid.UUID,
    body: IncidentUpdateIn,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[IncidentOut]:
    """Adds an update (and moves the status) of an incident or a maintenance."""
    before = await _incident(session, incident_id)
    found = await incidents.add_update(
        session, incident_id, body, actor=_actor(caller), now=clock.now()
    )
    return await _recorded(session, audit, caller, "status.incident.update", before, found)


@router.post("/incidents/{incident_id}/publish")
async def publish_incident(
    incident_id: uuid.UUID,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[IncidentOut]:
    """Makes a draft public, as it stands; publishing a public incident changes nothing."""
    before = await _incident(session, incident_id)
    found = await incidents.publish(session, incident_id, actor=_actor(caller), now=clock.now())
    return await _recorded(session, audit, caller, "status.incident.publish", before, found)


@router.patch("/incidents/{incident_id}")
async def edit_incident(
    incident_id: uuid.UUID,
    body: IncidentPatch,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[IncidentOut]:
    """Renames it, changes its impact, or moves a maintenance window."""
    before = await _incident(session, incident_id)
    found = await incidents.patch(session, incident_id, body, now=clock.now())
    return await _recorded(session, audit, caller, "status.incident.edit", before, found)


@router.delete("/incidents/{incident_id}", status_code=status.HTTP_204_NO_CONTENT)
async def discard_draft(
    incident_id: uuid.UUID, caller: PlatformAdminDep, session: SessionDep, audit: AuditDep
) -> None:
    """Discards a draft (409 INCIDENT_PUBLISHED for a public incident)."""
    before = await _incident(session, incident_id)
    await incidents.discard(session, incident_id)
    await audit.record(
        caller, "status.incident.discard", target=incident_id, before=_incident_state(before)
    )


async def _incident(session: SessionDep, incident_id: uuid.UUID) -> IncidentOut | None:
    """The incident as it is, None when there is none (the action answers 404 for it)."""
    found = await repository.incident(session, incident_id)
    if found is None:
        return None
    (item,) = await views.incidents_out(session, [found])
    return item


def _incident_state(incident: IncidentOut | None) -> dict[str, object] | None:
    """An incident's fields with its newest update and their count, not every update: an
    action adds at most one, and the diff shows it."""
    if incident is None:
        return None
    latest = incident.updates[0].model_dump() if incident.updates else None
    return {
        **incident.model_dump(exclude={"updates"}),
        "updates": len(incident.updates),
        "latest_update": latest,
    }


async def _recorded(
    session: SessionDep,
    audit: AuditTrail,
    caller: OperatorPrincipal,
    action: str,
    before: IncidentOut | None,
    found: StatusIncident,
) -> Envelope[IncidentOut]:
    """The incident's answer, its event recorded. Incidents describe Ridgeline itself: the
    event has no organization."""
    answer = await _one(session, found)
    await audit.record(
        caller,
        action,
        target=found.id,
        before=_incident_state(before),
        after=_incident_state(answer.data),
    )
    return answer
