"""The status page's Atom feed (`/status/history.atom`): Atom 1.0, one entry per published
incident or maintenance, newest first, operator text escaped, ETag/304."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from tests.factories import platform_admin_headers as admin_headers

pytestmark = pytest.mark.asyncio

ATOM = "{http://www.w3.org/2005/Atom}"
FEED = "/status/history.atom"


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def feed(client: httpx.AsyncClient) -> tuple[ET.Element, bytes]:
    response = await client.get(FEED)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    return ET.fromstring(response.content), response.content  # noqa: S314 - our own feed


def text(element: ET.Element, tag: str) -> str:
    found = element.find(ATOM + tag)
    assert found is not None, tag
    return found.text or ""


def aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    return parsed


async def test_an_empty_feed_is_valid_atom(client: httpx.AsyncClient) -> None:
    root, raw = await feed(client)
    assert raw.startswith(b"<?xml")
    assert root.tag == ATOM + "feed"
    assert text(root, "id").endswith("/status/history")
    assert text(root, "title") == "Ridgeline Status - Incident History"
    aware(text(root, "updated"))
    links = {link.get("rel"): link for link in root.findall(ATOM + "link")}
    assert links["alternate"].get("href", "").endswith("/status")
    assert links["self"].get("href", "").endswith("/status/history.atom")
    assert links["self"].get("type") == "application/atom+xml"
    author = root.find(ATOM + "author")
    assert author is not None
    assert text(author, "name") == "Ridgeline"
    assert root.findall(ATOM + "entry") == []


async def test_entries_are_incidents_and_maintenance_newest_first_and_escaped(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    nasty = 'Orders <script>alert("x")</script> & more'
    first = await post(
        client,
        headers,
        "/api/v1/status/incidents",
        {"name": nasty, "body": "Body <b>bold</b> & <script>x()</script>", "components": {}},
    )
    clock.advance(60)
    await post(
        client,
        headers,
        f"/api/v1/status/incidents/{first['id']}/updates",
        {"status": "resolved", "body": "Fixed & done."},
    )
    clock.advance(60)
    start = clock.now() + timedelta(hours=1)
    maintenance = await post(
        client,
        headers,
        "/api/v1/status/maintenances",
        {
            "name": "Database upgrade",
            "body": "Planned.",
            "components": ["catalog_sync"],
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(minutes=30)).isoformat(),
        },
    )
    await post(
        client,
        headers,
        "/api/v1/status/incidents",
        {"name": "Hidden draft", "body": "Not public.", "publish": False},
    )

    root, raw = await feed(client)
    assert b"<script>" not in raw
    assert b"Hidden draft" not in raw
    entries = root.findall(ATOM + "entry")
    assert [text(e, "title") for e in entries] == ["Database upgrade", nasty]
    upgrade, incident = entries
    assert text(upgrade, "id").endswith(f"/status/incidents/{maintenance['id']}")
    assert text(incident, "id").endswith(f"/status/incidents/{first['id']}")
    link = incident.find(ATOM + "link")
    assert link is not None
    assert link.get("href") == text(incident, "id")
    assert link.get("rel") == "alternate"
    assert aware(text(incident, "updated")) == aware(first["updated_at"]) + timedelta(seconds=60)
    aware(text(incident, "published"))
    assert aware(text(root, "updated")) >= aware(text(upgrade, "updated"))

    content = incident.find(ATOM + "content")
    assert content is not None
    assert content.get("type") == "html"
    assert list(content) == []  # escaped HTML text, not markup
    html = content.text or ""
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; " in html
    assert "<script>" not in html
    assert html.index("Resolved") < html.index("Investigating")  # newest update first
    assert "Fixed &amp; done." in html
    upgrade_html = text(upgrade, "content")
    assert "Scheduled for" in upgrade_html
    assert "Catalog sync" in upgrade_html


async def test_the_feed_carries_at_most_fifty_entries(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await admin_headers(client, database)
    for number in range(51):
        await post(
            client,
            headers,
            "/api/v1/status/incidents",
            {"name": f"Incident {number}", "body": "x", "components": {}},
        )
        clock.advance(1)
        if number % 20 == 19:
            headers = await admin_headers(client, database)
    root, _ = await feed(client)
    titles = [text(e, "title") for e in root.findall(ATOM + "entry")]
    assert titles == [f"Incident {number}" for number in range(50, 0, -1)]


async def test_characters_xml_cannot_carry_are_dropped(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    await post(
        client,
        headers,
        "/api/v1/status/incidents",
        {"name": "Bell\x07 and \x01nul", "body": "Tab\tok \x0b", "components": {}},
    )
    root, _ = await feed(client)
    (entry,) = root.findall(ATOM + "entry")
    assert text(entry, "title") == "Bell and nul"


async def test_the_feed_answers_304_and_changes_its_etag(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await client.get(FEED)
    etag = first.headers["etag"]
    assert first.headers["access-control-allow-origin"] == "*"
    again = await client.get(FEED, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    headers = await admin_headers(client, database)
    await post(
        client,
        headers,
        "/api/v1/status/incidents",
        {"name": "New", "body": "x", "components": {}},
    )
    changed = await client.get(FEED, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
