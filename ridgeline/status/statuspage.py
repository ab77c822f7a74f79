"""Statuspage's public API (`/api/v2/*.json`) and the incident feed: the status page's data in
the exact shapes that monitoring bots, chat integrations and status aggregators already read."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.dependencies import SessionDep, SettingsDep
from ridgeline.auth.dependencies import PUBLIC
from ridgeline.models.status import IncidentImpact, IncidentKind, IncidentStatus, StatusIncident
from ridgeline.status import repository, views
from ridgeline.status.caching import conditional
from ridgeline.status.endpoints import page_url
from ridgeline.status.schemas import (
    ComponentOut,
    IncidentOut,
    IncidentUpdateOut,
    StatusSummary,
)
from ridgeline.status.statuspage_schemas import (
    IncidentStatusValue,
    MaintenanceStatusValue,
    StatuspageAffectedComponent,
    StatuspageComponent,
    StatuspageComponents,
    StatuspageIncident,
    StatuspageIncidents,
    StatuspageIncidentUpdate,
    StatuspagePage,
    StatuspageScheduledMaintenance,
    StatuspageScheduledMaintenances,
    StatuspageStatus,
    StatuspageStatusOut,
    StatuspageSummary,
)

router = APIRouter(tags=["status"])
JSON = "application/json"
ATOM_MEDIA_TYPE = "application/atom+xml"
ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# How many incidents the history lists and the feed carry (as Statuspage's do).
RECENT = 50
UPCOMING = (IncidentStatus.SCHEDULED,)
ACTIVE = (IncidentStatus.IN_PROGRESS, IncidentStatus.VERIFYING)
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# From our read side (views) to Statuspage's shapes.


class _Page:
    """What every answer shares: the summary (page, components) and the page's URL."""

    def __init__(self, summary: StatusSummary) -> None:
        self.summary = summary
        self.url = summary.page.url
        self.components = {c.key: sp_component(c) for c in summary.components}

    def page(self, items: Sequence[IncidentOut] = ()) -> StatuspagePage:
        found = self.summary.page
        stamps = [found.updated_at] + [item.updated_at for item in items]
        return StatuspagePage(
            id=found.id,
            name=found.name,
            url=found.url,
            time_zone=found.time_zone,
            updated_at=max(stamps),
        )

    def shortlink(self, item: IncidentOut) -> str:
        return f"{self.url}/incidents/{item.id}"

    def update(self, item: IncidentOut, update: IncidentUpdateOut) -> StatuspageIncidentUpdate:
        affected = [
            StatuspageAffectedComponent(
                code=self._code(change.key),
                name=change.name,
                old_status=change.old_status,
                new_status=change.new_status,
            )
            for change in update.affected_components
        ]
        return StatuspageIncidentUpdate(
            id=str(update.id),
            status=update.status.value,
            body=update.body,
            incident_id=str(item.id),
            created_at=update.created_at,
            updated_at=update.created_at,
            display_at=update.display_at,
            affected_components=affected or None,
            deliver_notifications=True,
            custom_tweet=None,
            tweet_id=None,
        )

    def _code(self, key: str) -> str:
        component = self.components.get(key)
        return component.id if component is not None else key

    def _components(self, item: IncidentOut) -> list[StatuspageComponent]:
        return [self.components[c.key] for c in item.components if c.key in self.components]

    def incident(self, item: IncidentOut) -> StatuspageIncident:
        return StatuspageIncident(
            id=str(item.id),
            name=item.name,
            status=cast(IncidentStatusValue, item.status.value),
            created_at=item.created_at,
            updated_at=item.updated_at,
            monitoring_at=item.monitoring_at,
            resolved_at=item.resolved_at,
            impact=item.impact,
            shortlink=self.shortlink(item),
            started_at=item.started_at or item.created_at,
            page_id=views.PAGE_ID,
            incident_updates=[self.update(item, update) for update in item.updates],
            components=self._components(item),
        )

    def maintenance(self, item: IncidentOut) -> StatuspageScheduledMaintenance:
        return StatuspageScheduledMaintenance(
            id=str(item.id),
            name=item.name,
            status=cast(MaintenanceStatusValue, item.status.value),
            created_at=item.created_at,
            updated_at=item.updated_at,
            monitoring_at=item.monitoring_at,
            resolved_at=item.resolved_at,
            impact="maintenance",
            shortlink=self.shortlink(item),
            started_at=item.started_at or item.created_at,
            page_id=views.PAGE_ID,
            incident_updates=[self.update(item, update) for update in item.updates],
            components=self._components(item),
            scheduled_for=item.scheduled_for,
            scheduled_until=item.scheduled_until,
            scheduled_remind_prior=False,
            scheduled_reminded_at=None,
            impact_override=None if item.impact is IncidentImpact.NONE else item.impact,
            scheduled_auto_in_progress=item.auto_transition,
            scheduled_auto_completed=item.auto_transition,
        )


def sp_component(component: ComponentOut) -> StatuspageComponent:
    return StatuspageComponent(
        id=str(component.id),
        name=component.name,
        status=component.status,
        created_at=component.created_at,
        updated_at=component.updated_at,
        position=component.position,
        description=component.description,
        showcase=True,
        start_date=component.created_at.date(),
        group_id=None,
        page_id=views.PAGE_ID,
        group=False,
        only_show_if_degraded=False,
    )


async def _load(session: AsyncSession, settings: SettingsDep, request: Request) -> _Page:
    found = await views.summary(
        session, page_name=settings.status_page_name, page_url=page_url(settings, request)
    )
    return _Page(found)


async def _recent(session: AsyncSession, kind: IncidentKind | None) -> list[IncidentOut]:
    """The most recent published incidents (or one kind), newest first."""
    statement = (
        repository.incidents_query(kind=kind, published_only=True)
        .order_by(StatusIncident.created_at.desc(), StatusIncident.id.desc())
        .limit(RECENT)
    )
    rows = (await session.scalars(statement)).all()
    return await views.incidents_out(session, rows)


async def _maintenance_in(
    session: AsyncSession, statuses: Sequence[IncidentStatus]
) -> list[IncidentOut]:
    """Published maintenance in one of `statuses`, soonest first."""
    statement = (
        repository.incidents_query(kind=IncidentKind.MAINTENANCE, published_only=True)
        .where(StatusIncident.status.in_(statuses))
        .order_by(StatusIncident.scheduled_for, StatusIncident.created_at, StatusIncident.id)
    )
    rows = (await session.scalars(statement)).all()
    return await views.incidents_out(session, rows)


def _json(request: Request, body: BaseModel) -> Response:
    return conditional(request, body.model_dump_json().encode(), JSON)


# Statuspage's public API v2.


@router.get("/api/v2/summary.json", openapi_extra=PUBLIC, response_model=StatuspageSummary)
async def summary(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The page's indicator, every component, unresolved incidents and upcoming or in-progress
    maintenance, as Statuspage's `summary.json`."""
    page = await _load(session, settings, request)
    found = page.summary
    body = StatuspageSummary(
        page=page.page(),
        status=StatuspageStatus(
            indicator=found.status.indicator, description=found.status.description
        ),
        components=list(page.components.values()),
        incidents=[page.incident(item) for item in found.incidents],
        scheduled_maintenances=[page.maintenance(item) for item in found.scheduled_maintenances],
    )
    return _json(request, body)


@router.get("/api/v2/status.json", openapi_extra=PUBLIC, response_model=StatuspageStatusOut)
async def status(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The page's indicator (none, minor, major, critical) and its description."""
    page = await _load(session, settings, request)
    found = page.summary.status
    body = StatuspageStatusOut(
        page=page.page(),
        status=StatuspageStatus(indicator=found.indicator, description=found.description),
    )
    return _json(request, body)


@router.get("/api/v2/components.json", openapi_extra=PUBLIC, response_model=StatuspageComponents)
async def components(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Every component with its status, in page order."""
    page = await _load(session, settings, request)
    return _json(
        request, StatuspageComponents(page=page.page(), components=list(page.components.values()))
    )


@router.get("/api/v2/incidents.json", openapi_extra=PUBLIC, response_model=StatuspageIncidents)
async def incidents(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The 50 most recent published incidents (not maintenance), any status, newest first."""
    page = await _load(session, settings, request)
    items = await _recent(session, IncidentKind.INCIDENT)
    body = StatuspageIncidents(
        page=page.page(items), incidents=[page.incident(item) for item in items]
    )
    return _json(request, body)


@router.get(
    "/api/v2/incidents/unresolved.json", openapi_extra=PUBLIC, response_model=StatuspageIncidents
)
async def unresolved_incidents(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Published incidents not yet resolved, newest first."""
    page = await _load(session, settings, request)
    items = page.summary.incidents
    body = StatuspageIncidents(page=page.page(), incidents=[page.incident(item) for item in items])
    return _json(request, body)


def _maintenances(page: _Page, items: Sequence[IncidentOut]) -> StatuspageScheduledMaintenances:
    return StatuspageScheduledMaintenances(
        page=page.page(items), scheduled_maintenances=[page.maintenance(item) for item in items]
    )


@router.get(
    "/api/v2/scheduled-maintenances.json",
    openapi_extra=PUBLIC,
    response_model=StatuspageScheduledMaintenances,
)
async def scheduled_maintenances(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """The 50 most recent published maintenances, any status, newest first."""
    page = await _load(session, settings, request)
    items = await _recent(session, IncidentKind.MAINTENANCE)
    return _json(request, _maintenances(page, items))


@router.get(
    "/api/v2/scheduled-maintenances/upcoming.json",
    openapi_extra=PUBLIC,
    response_model=StatuspageScheduledMaintenances,
)
async def upcoming_maintenances(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Maintenance not yet started (status `scheduled`), soonest first."""
    page = await _load(session, settings, request)
    items = await _maintenance_in(session, UPCOMING)
    return _json(request, _maintenances(page, items))


@router.get(
    "/api/v2/scheduled-maintenances/active.json",
    openapi_extra=PUBLIC,
    response_model=StatuspageScheduledMaintenances,
)
async def active_maintenances(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Maintenance under way (status `in_progress` or `verifying`), soonest first."""
    page = await _load(session, settings, request)
    items = await _maintenance_in(session, ACTIVE)
    return _json(request, _maintenances(page, items))


# The Atom feed.


def _text(value: str) -> str:
    """`value` without the characters XML cannot carry (ElementTree escapes the rest)."""
    return _NOT_XML.sub("", value)


def _stamp(value: datetime) -> str:
    return value.isoformat()


def _when(value: datetime) -> str:
    return value.strftime("%b %d, %H:%M UTC")


def _status_title(value: IncidentStatus) -> str:
    return value.value.replace("_", " ").capitalize()


def entry_html(item: IncidentOut) -> str:
    """An incident's updates (newest first) as HTML, every operator text escaped."""
    parts = [
        f"<p><small>{_when(update.display_at)}</small><br>"
        f"<strong>{_status_title(update.status)}</strong> - "
        f"{html.escape(update.body).replace(chr(10), '<br>')}</p>"
        for update in item.updates
    ]
    if item.kind is IncidentKind.MAINTENANCE and item.scheduled_for and item.scheduled_until:
        parts.append(
            f"<p>Scheduled for {_when(item.scheduled_for)} until {_when(item.scheduled_until)}</p>"
        )
    if item.components:
        names = ", ".join(html.escape(c.name) for c in item.components)
        parts.append(f"<p>Affected components: {names}</p>")
    return "".join(parts)


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = _text(text)
    return element


def atom_feed(page: _Page, items: Sequence[IncidentOut]) -> bytes:
    """Atom 1.0 (RFC 4287): one entry per incident or maintenance, newest first."""
    name = page.summary.page.name
    # Atom's elements in the default namespace; their attributes have none (RFC 4287).
    feed = ET.Element("feed", {"xmlns": ATOM, XML_LANG: "en"})
    _add(feed, "id", f"{page.url}/history")
    _add(feed, "link", rel="alternate", type="text/html", href=page.url)
    _add(feed, "link", rel="self", type=ATOM_MEDIA_TYPE, href=f"{page.url}/history.atom")
    _add(feed, "title", f"{name} Status - Incident History", type="text")
    _add(feed, "updated", _stamp(page.page(items).updated_at))
    author = _add(feed, "author")
    _add(author, "name", name)
    for item in items:
        entry = _add(feed, "entry")
        link = page.shortlink(item)
        _add(entry, "id", link)
        _add(entry, "published", _stamp(item.published_at or item.created_at))
        _add(entry, "updated", _stamp(item.updated_at))
        _add(entry, "link", rel="alternate", type="text/html", href=link)
        _add(entry, "title", item.name, type="text")
        _add(entry, "content", entry_html(item), type="html")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


@router.get(
    "/status/history.atom",
    openapi_extra=PUBLIC,
    response_class=Response,
    responses={
        200: {
            "description": "Atom 1.0 feed",
            "content": {ATOM_MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def history_feed(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The 50 most recent published incidents and maintenances as an Atom feed, newest first,
    each entry with its updates."""
    page = await _load(session, settings, request)
    items = await _recent(session, None)
    return conditional(request, atom_feed(page, items), ATOM_MEDIA_TYPE)
