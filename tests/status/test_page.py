"""The public status page's HTML (`/status`), its incident pages and its assets, without a
browser (tests/browser drives it in Chromium)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.status.components import COMPONENTS
from tests.factories import make_store, make_tenant
from tests.factories import platform_admin_headers as admin_headers

pytestmark = pytest.mark.asyncio


async def test_the_page_lists_every_component_and_answers_304_when_unchanged(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    assert (await client.post("/api/v1/status/evaluate", headers=headers)).status_code == 200
    response = await client.get("/status")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert '<html lang="en">' in html
    assert "<title>Ridgeline status</title>" in html
    for spec in COMPONENTS:
        assert f'data-key="{spec.key}" data-status="operational"' in html
        assert f">{spec.name}</h3>" in html
    assert "All Systems Operational" in html
    assert 'aria-live="polite"' in html
    assert html.count('class="bar bar--') == 90 * len(COMPONENTS)
    assert "http://" not in html.replace("http://testserver", "")  # nothing from elsewhere
    etag = response.headers["etag"]
    again = await client.get("/status", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


async def test_the_page_shows_incidents_and_maintenance_and_links_their_pages(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    created = await client.post(
        "/api/v1/status/incidents",
        json={
            "name": "Slow catalog syncs",
            "body": "We are looking into <slow> syncs.",
            "components": {"catalog_sync": "degraded_performance"},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    incident_id = created.json()["data"]["id"]
    start = clock.now() + timedelta(days=2)
    maintenance = await client.post(
        "/api/v1/status/maintenances",
        json={
            "name": "Database upgrade",
            "body": "A short upgrade.",
            "components": ["api"],
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=1)).isoformat(),
        },
        headers=headers,
    )
    assert maintenance.status_code == 201, maintenance.text
    html = (await client.get("/status")).text
    assert f'href="/status/incidents/{incident_id}">Slow catalog syncs</a>' in html
    assert "We are looking into &lt;slow&gt; syncs." in html  # escaped
    assert "Database upgrade" in html
    assert f'<time datetime="{start.strftime("%Y-%m-%dT%H:%M:%SZ")}">' in html
    page = await client.get(f"/status/incidents/{incident_id}")
    assert page.status_code == 200
    assert "<h1>Slow catalog syncs</h1>" in page.text
    assert "Investigating" in page.text


async def test_a_draft_or_unknown_incident_is_a_404_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    draft = await client.post(
        "/api/v1/status/incidents",
        json={"name": "Not yet", "body": "Draft.", "publish": False},
        headers=headers,
    )
    assert draft.status_code == 201, draft.text
    for incident_id in (draft.json()["data"]["id"], str(uuid.uuid4()), "not-a-uuid"):
        response = await client.get(
            f"/status/incidents/{incident_id}", headers={"Accept": "text/html"}
        )
        assert response.status_code == 404, incident_id
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "<h1>Not found</h1>" in response.text
        assert "Not yet" not in response.text
        # A program that does not ask for HTML gets the error envelope.
        plain = await client.get(f"/status/incidents/{incident_id}")
        assert plain.status_code == 404
        assert plain.json()["error"]["code"] == "NOT_FOUND"
        assert "Not yet" not in plain.text


async def test_assets_are_served_with_their_types_and_cached(client: httpx.AsyncClient) -> None:
    html = (await client.get("/status")).text
    types = {
        "status.css": "text/css; charset=utf-8",
        "status.js": "text/javascript; charset=utf-8",
        "favicon.svg": "image/svg+xml",
    }
    for name, media_type in types.items():
        assert f"/status/assets/{name}?v=" in html
        response = await client.get(f"/status/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == media_type
        assert "max-age=31536000" in response.headers["cache-control"]
        cached = await client.get(
            f"/status/assets/{name}", headers={"If-None-Match": response.headers["etag"]}
        )
        assert cached.status_code == 304
    for name in ("missing.css", "..%2Fpage.py", "page.py"):
        unknown = await client.get(f"/status/assets/{name}")
        assert unknown.status_code == 404, name
        assert unknown.json()["error"]["code"] in ("NOT_FOUND", "ROUTE_NOT_FOUND")


async def test_no_retailer_or_store_name_reaches_the_page(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database, slug="quokka-cannabis-co")
    await make_store(database, tenant.organization, name="Zephyrwood Emporium")
    headers = await admin_headers(client, database)
    assert (await client.post("/api/v1/status/evaluate", headers=headers)).status_code == 200
    html = (await client.get("/status")).text.lower()
    for name in ("zephyrwood", "quokka", "main st", tenant.organization.name.lower()):
        assert name not in html
