"""The status page's JSON API: public reads with ETag/304, and platform admins managing
components, incidents, drafts and maintenance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from tests.factories import make_tenant, sign_in
from tests.factories import platform_admin_headers as admin_headers

pytestmark = pytest.mark.asyncio


async def summary(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/status")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def statuses(data: dict[str, Any]) -> dict[str, str]:
    return {c["key"]: c["status"] for c in data["components"]}


async def test_every_component_is_operational_on_a_quiet_platform(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    response = await client.post("/api/v1/status/evaluate", headers=headers)
    assert response.status_code == 200, response.text
    data = await summary(client)
    assert statuses(data) == {
        "api": "operational",
        "realtime": "operational",
        "catalog_sync": "operational",
        "order_submission": "operational",
        "pos_dutchie": "operational",
        "pos_treez": "operational",
        "pos_blaze": "operational",
        "pos_flowhub": "operational",
    }
    assert [c["position"] for c in data["components"]] == list(range(1, 9))
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert data["incidents"] == []
    assert data["scheduled_maintenances"] == []


async def test_public_reads_answer_304_when_nothing_changed(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    await client.post("/api/v1/status/evaluate", headers=headers)
    for path in ("/api/v1/status", "/api/v1/status/incidents", "/api/v1/status/uptime"):
        first = await client.get(path)
        etag = first.headers["etag"]
        assert first.headers["access-control-allow-origin"] == "*"
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200
    before = (await client.get("/api/v1/status")).headers["etag"]
    await client.post(
        "/api/v1/status/incidents",
        json={"name": "Slow syncs", "body": "Looking into it.", "components": {}},
        headers=headers,
    )
    changed = await client.get("/api/v1/status", headers={"If-None-Match": before})
    assert changed.status_code == 200
    assert changed.headers["etag"] != before


async def test_an_incident_with_updates_moves_its_components_and_resolves(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    created = await client.post(
        "/api/v1/status/incidents",
        json={
            "name": "Treez orders delayed",
            "body": "We are investigating delayed orders for Treez stores.",
            "components": {
                "pos_treez": "partial_outage",
                "order_submission": "degraded_performance",
            },
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    incident = created.json()["data"]
    assert incident["impact"] == "major"  # from its worst declared status
    assert incident["status"] == "investigating"
    assert not incident["draft"]
    data = await summary(client)
    assert statuses(data)["pos_treez"] == "partial_outage"
    assert statuses(data)["order_submission"] == "degraded_performance"
    assert data["status"]["indicator"] == "major"
    assert [i["id"] for i in data["incidents"]] == [incident["id"]]
    (first,) = data["incidents"][0]["updates"]
    assert {a["key"]: (a["old_status"], a["new_status"]) for a in first["affected_components"]} == {
        "pos_treez": ("operational", "partial_outage"),
        "order_submission": ("operational", "degraded_performance"),
    }

    clock.advance(120)
    identified = await client.post(
        f"/api/v1/status/incidents/{incident['id']}/updates",
        json={"status": "identified", "body": "A Treez API change; a fix is rolling out."},
        headers=headers,
    )
    assert identified.status_code == 201, identified.text
    clock.advance(120)
    resolved = await client.post(
        f"/api/v1/status/incidents/{incident['id']}/updates",
        json={"status": "resolved", "body": "Orders flow normally again."},
        headers=headers,
    )
    body = resolved.json()["data"]
    assert [u["status"] for u in body["updates"]] == ["resolved", "identified", "investigating"]
    assert body["resolved_at"] is not None
    data = await summary(client)
    assert set(statuses(data).values()) == {"operational"}
    assert data["incidents"] == []
    history = (await client.get("/api/v1/status/incidents")).json()
    assert [i["id"] for i in history["data"]] == [incident["id"]]

    reopened = await client.post(
        f"/api/v1/status/incidents/{incident['id']}/updates",
        json={"status": "monitoring", "body": "again"},
        headers=headers,
    )
    assert reopened.status_code == 409
    assert reopened.json()["error"]["code"] == "INCIDENT_CLOSED"


async def test_a_draft_is_private_until_published(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    draft = (
        await client.post(
            "/api/v1/status/incidents",
            json={
                "name": "API errors",
                "body": "Investigating.",
                "components": {"api": "major_outage"},
                "publish": False,
            },
            headers=headers,
        )
    ).json()["data"]
    assert draft["draft"]
    data = await summary(client)
    assert data["incidents"] == []
    assert statuses(data)["api"] == "operational"
    assert (await client.get(f"/api/v1/status/incidents/{draft['id']}")).status_code == 404
    drafts = (await client.get("/api/v1/status/drafts", headers=headers)).json()["data"]
    assert [d["id"] for d in drafts] == [draft["id"]]

    published = await client.post(
        f"/api/v1/status/incidents/{draft['id']}/publish", headers=headers
    )
    assert published.status_code == 200
    assert not published.json()["data"]["draft"]
    data = await summary(client)
    assert statuses(data)["api"] == "major_outage"
    assert data["status"]["indicator"] == "critical"
    deleted = await client.delete(f"/api/v1/status/incidents/{draft['id']}", headers=headers)
    assert deleted.status_code == 409
    assert deleted.json()["error"]["code"] == "INCIDENT_PUBLISHED"


async def test_maintenance_shows_ahead_and_applies_during_its_window(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    start = clock.now() + timedelta(hours=2)
    created = await client.post(
        "/api/v1/status/maintenances",
        json={
            "name": "Database upgrade",
            "body": "Catalog sync pauses for up to 30 minutes.",
            "components": ["catalog_sync"],
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(minutes=30)).isoformat(),
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    data = await summary(client)
    (upcoming,) = data["scheduled_maintenances"]
    assert upcoming["status"] == "scheduled"
    assert statuses(data)["catalog_sync"] == "operational"

    clock.advance(2 * 3600 + 1)
    headers = await admin_headers(client, database)  # the first token has expired
    await client.post("/api/v1/status/evaluate", headers=headers)
    data = await summary(client)
    assert statuses(data)["catalog_sync"] == "under_maintenance"
    assert data["scheduled_maintenances"][0]["status"] == "in_progress"
    assert data["status"]["description"] == "Service Under Maintenance"

    clock.advance(30 * 60)
    headers = await admin_headers(client, database)
    await client.post("/api/v1/status/evaluate", headers=headers)
    data = await summary(client)
    assert statuses(data)["catalog_sync"] == "operational"
    assert data["scheduled_maintenances"] == []
    (done,) = (await client.get("/api/v1/status/incidents?kind=maintenance")).json()["data"]
    assert [u["status"] for u in done["updates"]] == ["completed", "in_progress", "scheduled"]


async def test_an_override_wins_until_it_expires(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    response = await client.put(
        "/api/v1/status/components/realtime/override",
        json={
            "status": "degraded_performance",
            "reason": "Redis failover in progress",
            "until": (clock.now() + timedelta(minutes=10)).isoformat(),
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["override_status"] == "degraded_performance"
    assert statuses(await summary(client))["realtime"] == "degraded_performance"
    clock.advance(601)
    headers = await admin_headers(client, database)
    await client.post("/api/v1/status/evaluate", headers=headers)
    assert statuses(await summary(client))["realtime"] == "operational"
    components = (await client.get("/api/v1/status/components", headers=headers)).json()["data"]
    realtime = next(c for c in components if c["key"] == "realtime")
    assert realtime["override_status"] is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "PUT",
            "/api/v1/status/components/nope/override",
            {"status": "major_outage", "reason": "x"},
        ),
        ("PUT", "/api/v1/status/components/api/override", {"status": "broken", "reason": "x"}),
        (
            "POST",
            "/api/v1/status/incidents",
            {"name": "x", "body": "y", "components": {"db": "major_outage"}},
        ),
        ("POST", "/api/v1/status/incidents", {"name": "x", "body": "y", "status": "scheduled"}),
        ("POST", "/api/v1/status/incidents", {"name": "", "body": "y"}),
        (
            "POST",
            "/api/v1/status/maintenances",
            {
                "name": "m",
                "body": "b",
                "components": ["api"],
                "scheduled_for": "2030-01-02T00:00:00Z",
                "scheduled_until": "2030-01-01T00:00:00Z",
            },
        ),
    ],
)
async def test_bad_input_gets_an_error_and_changes_nothing(
    client: httpx.AsyncClient, database: Database, method: str, path: str, body: dict[str, Any]
) -> None:
    headers = await admin_headers(client, database)
    before = await summary(client)
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code in (404, 422), response.text
    assert response.json()["status"] == "error"
    after = await summary(client)
    assert after["components"] == before["components"]
    assert after["incidents"] == []


async def test_only_platform_admins_manage_the_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    response = await client.post(
        "/api/v1/status/incidents", json={"name": "x", "body": "y"}, headers=headers
    )
    assert response.status_code == 403
    assert (await client.post("/api/v1/status/incidents", json={})).status_code == 401


async def test_a_quiet_evaluation_keeps_the_etag(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    """Pollers get 304 between evaluations that change nothing they can see."""
    headers = await admin_headers(client, database)
    await client.post("/api/v1/status/evaluate", headers=headers)
    etag = (await client.get("/api/v1/status")).headers["etag"]
    clock.advance(30)
    await client.post("/api/v1/status/evaluate", headers=headers)
    again = await client.get("/api/v1/status", headers={"If-None-Match": etag})
    assert again.status_code == 304
