"""Statuspage's public API v2 (`/api/v2/*.json`): its paths, field names and value sets exactly,
no envelope, drafts never shown, ETag/304 on every answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from tests.factories import platform_admin_headers as admin_headers

pytestmark = pytest.mark.asyncio

PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
MAINTENANCE_KEYS = INCIDENT_KEYS | {
    "scheduled_for",
    "scheduled_until",
    "scheduled_remind_prior",
    "scheduled_reminded_at",
    "impact_override",
    "scheduled_auto_in_progress",
    "scheduled_auto_completed",
}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
AFFECTED_KEYS = {"code", "name", "old_status", "new_status"}
COMPONENT_STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}
INDICATORS = {"none", "minor", "major", "critical"}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
IMPACTS = {"none", "minor", "major", "critical"}
PATHS = (
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
)


async def get(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    data: dict[str, Any] = response.json()
    assert "status" not in data or isinstance(data["status"], dict)  # no envelope
    assert "data" not in data
    return data


def aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def check_page(page: dict[str, Any]) -> None:
    assert set(page) == PAGE_KEYS
    assert page["id"] == "ridgeline"
    assert page["time_zone"] == "Etc/UTC"
    assert page["url"].endswith("/status")
    aware(page["updated_at"])


def check_component(component: dict[str, Any]) -> None:
    assert set(component) == COMPONENT_KEYS
    assert component["status"] in COMPONENT_STATUSES
    assert isinstance(component["position"], int)
    assert component["page_id"] == "ridgeline"
    assert component["group"] is False
    assert component["group_id"] is None
    assert component["only_show_if_degraded"] is False
    aware(component["created_at"])
    aware(component["updated_at"])


def check_update(update: dict[str, Any], incident_id: str, statuses: set[str]) -> None:
    assert set(update) == UPDATE_KEYS
    assert update["status"] in statuses
    assert update["incident_id"] == incident_id
    assert update["deliver_notifications"] is True
    assert update["custom_tweet"] is None
    assert update["tweet_id"] is None
    for stamp in ("created_at", "updated_at", "display_at"):
        aware(update[stamp])
    for affected in update["affected_components"] or []:
        assert set(affected) == AFFECTED_KEYS
        assert affected["new_status"] in COMPONENT_STATUSES
        assert affected["old_status"] in COMPONENT_STATUSES | {None}


def check_incident(incident: dict[str, Any], base_url: str) -> None:
    assert set(incident) == INCIDENT_KEYS
    assert incident["status"] in INCIDENT_STATUSES
    assert incident["impact"] in IMPACTS
    assert incident["page_id"] == "ridgeline"
    assert incident["shortlink"] == f"{base_url}/incidents/{incident['id']}"
    aware(incident["started_at"])
    for update in incident["incident_updates"]:
        check_update(update, incident["id"], INCIDENT_STATUSES)
    for component in incident["components"]:
        check_component(component)


def check_maintenance(maintenance: dict[str, Any], base_url: str) -> None:
    assert set(maintenance) == MAINTENANCE_KEYS
    assert maintenance["status"] in MAINTENANCE_STATUSES
    assert maintenance["impact"] == "maintenance"
    assert maintenance["shortlink"] == f"{base_url}/incidents/{maintenance['id']}"
    aware(maintenance["scheduled_for"])
    aware(maintenance["scheduled_until"])
    assert maintenance["scheduled_remind_prior"] is False
    assert maintenance["scheduled_reminded_at"] is None
    for update in maintenance["incident_updates"]:
        check_update(update, maintenance["id"], MAINTENANCE_STATUSES)
    for component in maintenance["components"]:
        check_component(component)


async def open_incident(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "body": f"{name}: investigating.", "components": {}} | extra
    response = await client.post("/api/v1/status/incidents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def schedule(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str,
    start: datetime,
    minutes: int = 30,
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/status/maintenances",
        json={
            "name": name,
            "body": f"{name}: planned.",
            "components": ["catalog_sync"],
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(minutes=minutes)).isoformat(),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_summary_has_statuspages_fields_and_values(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    incident = await open_incident(
        client,
        headers,
        "Treez orders delayed",
        components={"pos_treez": "partial_outage"},
    )
    clock.advance(60)
    identified = await client.post(
        f"/api/v1/status/incidents/{incident['id']}/updates",
        json={"status": "identified", "body": "A Treez API change."},
        headers=headers,
    )
    assert identified.status_code == 201, identified.text
    start = clock.now() + timedelta(hours=2)
    maintenance = await schedule(client, headers, "Database upgrade", start)
    draft = await open_incident(
        client,
        headers,
        "Secret draft",
        components={"api": "major_outage"},
        publish=False,
    )

    response = await client.get("/api/v2/summary.json")
    assert response.status_code == 200
    assert draft["id"] not in response.text
    assert "Secret draft" not in response.text
    data = response.json()
    assert set(data) == {"page", "status", "components", "incidents", "scheduled_maintenances"}
    check_page(data["page"])
    base_url = data["page"]["url"]
    assert set(data["status"]) == {"indicator", "description"}
    assert data["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert data["status"]["indicator"] in INDICATORS

    for component in data["components"]:
        check_component(component)
    assert [c["position"] for c in data["components"]] == list(range(1, 9))
    by_name = {c["name"]: c for c in data["components"]}
    assert by_name["Treez integration"]["status"] == "partial_outage"
    assert by_name["API"]["status"] == "operational"  # the draft declares nothing publicly

    (shown,) = data["incidents"]
    check_incident(shown, base_url)
    assert shown["id"] == incident["id"]
    assert shown["name"] == "Treez orders delayed"
    assert shown["status"] == "identified"
    assert shown["impact"] == "major"
    assert shown["resolved_at"] is None
    assert [u["status"] for u in shown["incident_updates"]] == ["identified", "investigating"]
    latest, first = shown["incident_updates"]
    assert latest["body"] == "A Treez API change."
    assert latest["affected_components"] is None
    treez = by_name["Treez integration"]
    assert first["affected_components"] == [
        {
            "code": treez["id"],
            "name": "Treez integration",
            "old_status": "operational",
            "new_status": "partial_outage",
        }
    ]
    assert shown["components"] == [treez]

    (upcoming,) = data["scheduled_maintenances"]
    check_maintenance(upcoming, base_url)
    assert upcoming["id"] == maintenance["id"]
    assert upcoming["status"] == "scheduled"
    assert aware(upcoming["scheduled_for"]) == start
    assert aware(upcoming["scheduled_until"]) == start + timedelta(minutes=30)
    assert upcoming["scheduled_auto_in_progress"] is True
    assert upcoming["scheduled_auto_completed"] is True
    assert upcoming["impact_override"] is None
    assert [c["name"] for c in upcoming["components"]] == ["Catalog sync"]
    assert [u["status"] for u in upcoming["incident_updates"]] == ["scheduled"]

    for path in PATHS:
        assert draft["id"] not in (await client.get(path)).text, path


async def test_status_and_components(client: httpx.AsyncClient, database: Database) -> None:
    headers = await admin_headers(client, database)
    await client.post("/api/v1/status/evaluate", headers=headers)
    data = await get(client, "/api/v2/status.json")
    assert set(data) == {"page", "status"}
    check_page(data["page"])
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}

    await open_incident(client, headers, "API down", components={"api": "major_outage"})
    data = await get(client, "/api/v2/status.json")
    assert data["status"] == {"indicator": "critical", "description": "Major System Outage"}

    data = await get(client, "/api/v2/components.json")
    assert set(data) == {"page", "components"}
    check_page(data["page"])
    for component in data["components"]:
        check_component(component)
    assert [c["position"] for c in data["components"]] == list(range(1, 9))
    assert data["components"][0]["name"] == "API"
    assert data["components"][0]["status"] == "major_outage"


async def test_incidents_lists_recent_incidents_newest_first_and_unresolved(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    first = await open_incident(client, headers, "First")
    clock.advance(60)
    second = await open_incident(client, headers, "Second", components={"realtime": "major_outage"})
    clock.advance(60)
    await open_incident(client, headers, "Draft", publish=False)
    await schedule(client, headers, "Upgrade", clock.now() + timedelta(hours=1))
    resolved = await client.post(
        f"/api/v1/status/incidents/{first['id']}/updates",
        json={"status": "resolved", "body": "Fixed."},
        headers=headers,
    )
    assert resolved.status_code == 201, resolved.text

    data = await get(client, "/api/v2/incidents.json")
    assert set(data) == {"page", "incidents"}
    check_page(data["page"])
    for incident in data["incidents"]:
        check_incident(incident, data["page"]["url"])
    assert [i["name"] for i in data["incidents"]] == ["Second", "First"]  # no draft, no maintenance
    assert data["incidents"][1]["status"] == "resolved"
    assert data["incidents"][1]["resolved_at"] is not None
    assert [u["status"] for u in data["incidents"][1]["incident_updates"]] == [
        "resolved",
        "investigating",
    ]

    data = await get(client, "/api/v2/incidents/unresolved.json")
    assert set(data) == {"page", "incidents"}
    assert [i["id"] for i in data["incidents"]] == [second["id"]]
    assert data["incidents"][0]["components"][0]["status"] == "major_outage"


async def test_incidents_lists_at_most_fifty(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    for number in range(52):
        await open_incident(client, headers, f"Incident {number}")
        clock.advance(1)
        if number % 20 == 19:
            headers = await admin_headers(client, database)
    names = [i["name"] for i in (await get(client, "/api/v2/incidents.json"))["incidents"]]
    assert names == [f"Incident {number}" for number in range(51, 1, -1)]


async def test_scheduled_maintenances_upcoming_and_active(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    soon = await schedule(client, headers, "Soon", clock.now() + timedelta(hours=1), minutes=120)
    clock.advance(1)
    later = await schedule(client, headers, "Later", clock.now() + timedelta(hours=5))
    await open_incident(client, headers, "Not maintenance")

    data = await get(client, "/api/v2/scheduled-maintenances.json")
    assert set(data) == {"page", "scheduled_maintenances"}
    check_page(data["page"])
    for item in data["scheduled_maintenances"]:
        check_maintenance(item, data["page"]["url"])
    assert [m["id"] for m in data["scheduled_maintenances"]] == [later["id"], soon["id"]]

    upcoming = await get(client, "/api/v2/scheduled-maintenances/upcoming.json")
    assert set(upcoming) == {"page", "scheduled_maintenances"}
    assert [m["id"] for m in upcoming["scheduled_maintenances"]] == [soon["id"], later["id"]]
    active = await get(client, "/api/v2/scheduled-maintenances/active.json")
    assert active["scheduled_maintenances"] == []

    clock.advance(3600 + 1)
    headers = await admin_headers(client, database)
    await client.post("/api/v1/status/evaluate", headers=headers)
    upcoming = await get(client, "/api/v2/scheduled-maintenances/upcoming.json")
    assert [m["id"] for m in upcoming["scheduled_maintenances"]] == [later["id"]]
    active = await get(client, "/api/v2/scheduled-maintenances/active.json")
    (running,) = active["scheduled_maintenances"]
    check_maintenance(running, active["page"]["url"])
    assert running["id"] == soon["id"]
    assert running["status"] == "in_progress"
    assert running["components"][0]["status"] == "under_maintenance"

    summary = await get(client, "/api/v2/summary.json")
    assert [m["id"] for m in summary["scheduled_maintenances"]] == [soon["id"], later["id"]]
    assert summary["status"]["description"] == "Service Under Maintenance"


async def test_every_answer_has_an_etag_and_answers_304(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    await client.post("/api/v1/status/evaluate", headers=headers)
    await schedule(client, headers, "Upgrade", clock.now() + timedelta(hours=1))
    etags = {}
    for path in PATHS:
        first = await client.get(path)
        assert first.status_code == 200, path
        etag = first.headers["etag"]
        etags[path] = etag
        assert first.headers["access-control-allow-origin"] == "*"
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        other = await client.get(path, headers={"If-None-Match": '"other"'})
        assert other.status_code == 200, path

    clock.advance(60)
    await open_incident(client, headers, "Something new", components={"api": "partial_outage"})
    for path in PATHS:
        if "scheduled-maintenances" in path:
            continue  # the maintenance lists did not change
        changed = await client.get(path, headers={"If-None-Match": etags[path]})
        assert changed.status_code == 200, path
        assert changed.headers["etag"] != etags[path], path


async def test_statuspage_routes_are_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path in PATHS:
        operation = schema["paths"][path]["get"]
        assert operation["x-ridgeline-public"] is True
        assert "application/json" in operation["responses"]["200"]["content"]
    assert "/status/history.atom" in schema["paths"]
