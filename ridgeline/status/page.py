"""The public status page (`/status`): server-rendered HTML, refreshed live by a small script.

Readable without JavaScript: everything is in the HTML. `static/status.js` (an ES module, no
build step) polls `/api/v1/status` with `If-None-Match` and updates the banner, the components,
the open incidents and the maintenance in place, and shows every time in the reader's zone.
Nothing is fetched from anywhere else. Only component data is shown: never a tenant's name.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import jinja2
from fastapi import APIRouter, Request, Response

from ridgeline.api.dependencies import ClockDep, SessionDep, SettingsDep
from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.auth.dependencies import PUBLIC
from ridgeline.errors import NotFound
from ridgeline.models.status import ComponentStatus, IncidentKind, IncidentStatus, StatusIncident
from ridgeline.status import repository, views
from ridgeline.status.caching import conditional
from ridgeline.status.endpoints import page_url
from ridgeline.status.schemas import ComponentUptimeOut, IncidentOut, UptimeDayOut
from ridgeline.web.assets import IMMUTABLE, AssetShelf

router = APIRouter(tags=["status page"], include_in_schema=False)
HTML = "text/html; charset=utf-8"
# Closed incidents this recent are listed under "Past incidents".
HISTORY_DAYS = 14
HISTORY_LIMIT = 50

# The page's stylesheet, script and icon, served under /status/assets/{name}; nothing else is.
SHELF = AssetShelf("ridgeline.status", "static", "/status/assets")

STATUS_LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
}
# A symbol beside each status's colour and text: the colour is never the only signal.
STATUS_ICONS = {
    ComponentStatus.OPERATIONAL: "\u2713",
    ComponentStatus.DEGRADED_PERFORMANCE: "!",
    ComponentStatus.PARTIAL_OUTAGE: "\u25d0",
    ComponentStatus.MAJOR_OUTAGE: "\u2715",
    ComponentStatus.UNDER_MAINTENANCE: "\u2692",
}
INDICATOR_ICONS = {"none": "\u2713", "minor": "!", "major": "\u25d0", "critical": "\u2715"}
INCIDENT_STATUS_LABELS = {
    status: status.value.replace("_", " ").capitalize() for status in IncidentStatus
}


@cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ridgeline.status", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = _iso
    env.filters["utc"] = _utc_text
    env.globals.update(
        status_label=lambda status: STATUS_LABELS[ComponentStatus(status)],
        status_icon=lambda status: STATUS_ICONS[ComponentStatus(status)],
        incident_status=lambda status: INCIDENT_STATUS_LABELS[IncidentStatus(status)],
        indicator_icon=lambda indicator: INDICATOR_ICONS[indicator],
        asset_url=SHELF.url,
    )
    return env


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_text(value: datetime) -> str:
    at = _aware(value).astimezone(UTC)
    return f"{at.day} {at:%b %Y, %H:%M} UTC"


def day_text(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def day_label(day: UptimeDayOut) -> str:
    """What a bar says to a screen reader: "3 Dec 2026: 99.2% uptime, partial outage"."""
    if day.uptime is None:
        return f"{day_text(day.date)}: no data"
    worst = day.worst or ComponentStatus.OPERATIONAL
    how = "no downtime" if day.downtime_s <= 0 else STATUS_LABELS[worst].lower()
    return f"{day_text(day.date)}: {_percent(day.uptime * 100)} uptime, {how}"


def day_class(day: UptimeDayOut) -> str:
    if day.uptime is None:
        return "nodata"
    if day.downtime_s <= 0 or day.worst is None:
        return "operational"
    return day.worst.value


def _percent(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def uptime_rows(found: list[ComponentUptimeOut]) -> dict[str, dict[str, Any]]:
    return {
        item.key: {
            "percent": _percent(item.percent) if item.percent is not None else None,
            "days": [
                {"label": day_label(day), "cls": day_class(day), "date": day.date.isoformat()}
                for day in item.days
            ],
        }
        for item in found
    }


async def past_incidents(session: SessionDep, now: datetime) -> list[IncidentOut]:
    """Published incidents and maintenance closed in the last `HISTORY_DAYS`, newest first."""
    result = await paginate(
        session,
        repository.incidents_query(kind=None, published_only=True),
        StatusIncident,
        PageRequest(limit=HISTORY_LIMIT, cursor=None),
        newest_first=True,
    )
    since = now - timedelta(days=HISTORY_DAYS)
    closed = [
        incident
        for incident in result.items
        if incident.status in views.CLOSED and _aware(incident.created_at) >= since
    ]
    return await views.incidents_out(session, closed)


def _render(name: str, **context: Any) -> bytes:
    return templates().get_template(name).render(**context).encode()


@router.get("/status", openapi_extra=PUBLIC)
async def status_page(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """The status page."""
    now = clock.now()
    found = await views.summary(
        session, page_name=settings.status_page_name, page_url=page_url(settings, request)
    )
    body = _render(
        "status.html",
        page_name=settings.status_page_name,
        summary=found,
        uptime=uptime_rows(await views.uptime_out(session, now)),
        past=await past_incidents(session, now),
        history_days=HISTORY_DAYS,
        generated_at=now,
    )
    return conditional(request, body, HTML)


@router.get("/status/incidents/{incident_id}", openapi_extra=PUBLIC)
async def incident_page(
    incident_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """One published incident or maintenance with all its updates; 404 page otherwise."""
    found: StatusIncident | None = None
    try:
        parsed = uuid.UUID(incident_id)
    except ValueError:
        parsed = None
    if parsed is not None:
        found = await repository.incident(session, parsed)
    if found is None or found.published_at is None:
        if "text/html" not in request.headers.get("accept", ""):
            # A program (no `text/html` in Accept) gets our error envelope, as from any API.
            raise NotFound("incident", incident_id)
        body = _render("not_found.html", page_name=settings.status_page_name)
        return Response(content=body, status_code=404, media_type=HTML)
    (item,) = await views.incidents_out(session, [found])
    body = _render(
        "incident.html",
        page_name=settings.status_page_name,
        incident=item,
        is_maintenance=item.kind is IncidentKind.MAINTENANCE,
    )
    return conditional(request, body, HTML)


@router.get("/status/assets/{name}", openapi_extra=PUBLIC)
async def status_asset(name: str, request: Request) -> Response:
    """The page's stylesheet, script and icon (a fixed list), cached for a year: their URLs
    carry a version of their content."""
    found = SHELF.get(name)
    if found is None:
        raise NotFound("asset", name)
    headers = {"ETag": found.etag, "Cache-Control": IMMUTABLE}
    if request.headers.get("if-none-match", "").strip() == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(content=found.content, media_type=found.media_type, headers=headers)
