"""The public status page in a real browser against the real demo: the components the demo's
stores judge, a POS outage the simulator injects turning its vendor's component red and back by
itself, operators' incidents and maintenance, accessibility (axe-core) and screenshots."""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from ridgeline.status.components import COMPONENTS
from tests.browser.conftest import Demo, create_user, serious_violations

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "status-page.png"
# The page polls every 2 s here (`?refresh=2`; 15 s by default).
PAGE = "/status?refresh=2"
OUTAGE_TIMEOUT_MS = 120_000
ADMIN_EMAIL = "status-admin@ridgeline.example"
ADMIN_PASSWORD = "status-page-browser-test"


def component(page: Page, key: str) -> Any:
    return page.locator(f'.component[data-key="{key}"]')


def sign_in(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


@pytest.fixture(scope="module")
def api(demo: Demo) -> Any:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def platform_admin(demo: Demo, api: httpx.Client) -> dict[str, str]:
    """A platform admin made with the CLI against the demo's database, signed in."""
    create_user(demo, ADMIN_EMAIL, ADMIN_PASSWORD, "platform_admin")
    return sign_in(api, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_every_component_of_the_demo_is_operational(demo: Demo, page: Page) -> None:
    page.goto(demo.base_url + PAGE)
    expect(page).to_have_title("Ridgeline status")
    for spec in COMPONENTS:
        row = component(page, spec.key)
        expect(row.locator("h3")).to_have_text(spec.name)
        expect(row).to_have_attribute("data-status", "operational")
        expect(row.locator('[data-role="label"]')).to_have_text("Operational")
    expect(page.locator("#banner")).to_have_text("\u2713 All Systems Operational")
    expect(page.locator(".component")).to_have_count(8)
    expect(page.locator(".components .bar")).to_have_count(8 * 90)
    # Times are rewritten into the reader's zone by the script.
    expect(page.locator("#time-zone")).to_contain_text("America/Denver")
    updated = page.locator("#current .meta time")
    expect(updated).not_to_contain_text("UTC")
    for store in demo.info["stores"]:
        assert store["name"] not in page.content()


def test_a_pos_outage_turns_its_component_red_and_back_by_itself(
    demo: Demo, page: Page, api: httpx.Client
) -> None:
    """The simulator drops every connection to the Treez store: its syncs fail unanswered, the
    store goes offline (its breaker opens), the evaluation finds the vendor down and the open
    page shows it without a reload; once the fault is cleared recovery brings it back."""
    treez = demo.store("treez")
    operator = demo.info["operator"]
    headers = sign_in(api, operator["email"], operator["password"])
    # The documented per-store settings: an inventory sync every 30 s (the least allowed),
    # offline after 5 s without an answer (default 120 s) and failed calls judged for 20 s
    # (default 300 s: the store would stay degraded five minutes after the POS is back).
    set_sync = api.put(
        f"/api/v1/stores/{treez['id']}/sync-state",
        json={"inventory_interval_s": 30},
        headers=headers,
    )
    assert set_sync.status_code == 200, set_sync.text
    thresholds = api.put(
        f"/api/v1/stores/{treez['id']}/health/thresholds",
        json={"thresholds": {"offline_after_s": 5, "window_s": 20}},
        headers=headers,
    )
    assert thresholds.status_code == 200, thresholds.text
    page.goto(demo.base_url + PAGE)
    row = component(page, "pos_treez")
    expect(row).to_have_attribute("data-status", "operational")
    faults = f"{demo.info['simulator']['control_url']}/{treez['simulator_store_id']}/faults"
    added = httpx.post(faults, json={"endpoint": "*", "kind": "reset"}, timeout=10)
    assert added.status_code == 201, added.text
    began = time.monotonic()
    try:
        expect(row).to_have_attribute("data-status", "major_outage", timeout=OUTAGE_TIMEOUT_MS)
    except AssertionError:
        pytest.fail("no outage shown:\n" + demo.log_tail())
    down_after = time.monotonic() - began
    expect(row.locator('[data-role="label"]')).to_have_text("Major outage")
    expect(page.locator("#banner")).to_have_attribute("data-indicator", "critical")
    expect(page.locator("#announce")).to_contain_text("Treez integration: Major outage")
    for other in ("pos_dutchie", "pos_blaze", "pos_flowhub"):
        expect(component(page, other)).to_have_attribute("data-status", "operational")
    cleared = httpx.delete(faults, timeout=10)
    assert cleared.status_code in (200, 204), cleared.text
    began = time.monotonic()
    expect(row).to_have_attribute("data-status", "operational", timeout=OUTAGE_TIMEOUT_MS)
    expect(page.locator("#banner")).to_have_attribute("data-indicator", "none")
    up_after = time.monotonic() - began
    log.info("treez outage shown after %.0f s, recovered after %.0f s", down_after, up_after)


def test_an_operators_incident_and_its_updates_appear_live(
    demo: Demo, page: Page, api: httpx.Client, platform_admin: dict[str, str]
) -> None:
    page.goto(demo.base_url + PAGE)
    expect(page.locator("#incidents")).to_be_hidden()
    created = api.post(
        "/api/v1/status/incidents",
        json={
            "name": "Delayed catalog updates",
            "body": "We are investigating delayed catalog updates.",
            "components": {"catalog_sync": "degraded_performance"},
        },
        headers=platform_admin,
    )
    assert created.status_code == 201, created.text
    incident_id = created.json()["data"]["id"]
    for status, body in (
        ("identified", "The cause is a slow queue; a fix is rolling out."),
        ("monitoring", "The fix is out; we are watching catalog updates."),
    ):
        update = api.post(
            f"/api/v1/status/incidents/{incident_id}/updates",
            json={"status": status, "body": body},
            headers=platform_admin,
        )
        assert update.status_code == 201, update.text
    article = page.locator(f'#incidents article[data-id="{incident_id}"]')
    expect(article.locator("h3")).to_have_text("Delayed catalog updates")
    expect(article.locator(".update__status")).to_have_text(
        ["Monitoring", "Identified", "Investigating"]  # newest first
    )
    expect(article.locator(".update__body").first).to_have_text(
        "The fix is out; we are watching catalog updates."
    )
    expect(component(page, "catalog_sync")).to_have_attribute("data-status", "degraded_performance")
    # The server renders the same without the script, and the incident's own page has it all.
    page.reload()
    expect(article.locator(".update")).to_have_count(3)
    article.locator("h3 a").click()
    expect(page).to_have_url(f"{demo.base_url}/status/incidents/{incident_id}")
    expect(page.locator("h1")).to_have_text("Delayed catalog updates")
    expect(page.locator(".update__status")).to_have_text(
        ["Monitoring", "Identified", "Investigating"]
    )


def test_planned_maintenance_shows_ahead_of_its_window(
    demo: Demo, page: Page, api: httpx.Client, platform_admin: dict[str, str]
) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=2)
    created = api.post(
        "/api/v1/status/maintenances",
        json={
            "name": "Database upgrade",
            "body": "The API may be slow for a few minutes during the upgrade.",
            "components": ["api", "order_submission"],
            "scheduled_for": start.isoformat(),
            "scheduled_until": end.isoformat(),
        },
        headers=platform_admin,
    )
    assert created.status_code == 201, created.text
    page.goto(demo.base_url + PAGE)
    item = page.locator(f'#maintenance article[data-id="{created.json()["data"]["id"]}"]')
    expect(item.locator("h3")).to_have_text("Database upgrade")
    expect(item.locator(".incident__state")).to_have_text("Scheduled")
    times = item.locator(".window time")
    expect(times).to_have_count(2)
    expect(times.nth(0)).to_have_attribute("datetime", start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    expect(times.nth(1)).to_have_attribute("datetime", end.strftime("%Y-%m-%dT%H:%M:%SZ"))
    expect(times.nth(0)).to_contain_text("MST")  # the reader's zone (America/Denver)
    expect(item.locator(".affected")).to_have_text("Affects: API, Order submission")
    expect(component(page, "api")).to_have_attribute("data-status", "operational")


def test_axe_finds_no_serious_violations(
    demo: Demo, page: Page, api: httpx.Client, platform_admin: dict[str, str]
) -> None:
    """Runs after the incident and maintenance tests: both show on the page."""
    page.goto(demo.base_url + PAGE)
    expect(page.locator("#incidents article")).not_to_have_count(0)
    expect(page.locator("#maintenance article")).not_to_have_count(0)
    assert serious_violations(page) == []
    page.locator("#incidents article h3 a").first.click()
    expect(page.locator("h1")).to_be_visible()
    assert serious_violations(page) == []
    page.goto(demo.base_url + "/status/incidents/00000000-0000-0000-0000-000000000000")
    assert serious_violations(page) == []
    # Keyboard: the skip link is the first stop and moves focus to the main content.
    page.goto(demo.base_url + PAGE)
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_screenshots_at_phone_and_desktop_widths(demo: Demo, page: Page, tmp_path: Path) -> None:
    shots = {"phone": (390, 844), "desktop": (1280, 900)}
    for name, (width, height) in shots.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(demo.base_url + PAGE)
        expect(page.locator("#banner")).to_be_visible()
        expect(page.locator("#time-zone")).to_contain_text("America/Denver")
        path = tmp_path / f"status-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        # Nothing overflows sideways at phone width.
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (name, scroll_width)
    if os.environ.get("RIDGELINE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "status-desktop.png", SCREENSHOT)
