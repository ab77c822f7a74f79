"""The operator console in a real browser against the real demo: the demo's operator signs in
through the form and sees the fleet; a store whose POS refuses its credentials turns `error` on
the open page without a reload and its alert is acknowledged from the alerts view; a viewer sees
no action; axe-core finds nothing serious; no secret lands in storage, URLs or the page."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.browser.conftest import Demo, create_user, serious_violations
from tests.browser.conftest import sign_in_to_console as sign_in

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "console-fleet.png"
LIVE_TIMEOUT_MS = 60_000
VIEWER_EMAIL = "console-viewer@ridgeline.example"
VIEWER_PASSWORD = "console-viewer-browser-test"


@pytest.fixture(scope="module")
def api(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


def bearer(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


@pytest.fixture(scope="module")
def operator_headers(demo: Demo, api: httpx.Client) -> dict[str, str]:
    operator = demo.info["operator"]
    return bearer(api, operator["email"], operator["password"])


@pytest.fixture(scope="module")
def viewer(demo: Demo) -> dict[str, str]:
    """A viewer of the demo's organization, made with the CLI against the demo's database."""
    return create_user(
        demo,
        VIEWER_EMAIL,
        VIEWER_PASSWORD,
        "viewer",
        organization_id=demo.info["organization"]["id"],
    )


def store_row(page: Page, store_id: str) -> Any:
    return page.locator(f'#view tr[data-store-id="{store_id}"]')


def test_the_operator_signs_in_and_sees_the_fleet(demo: Demo, page: Page, tmp_path: Path) -> None:
    """(a) the demo's org admin through the form; (d) axe on the sign-in view and the fleet;
    (f) the fleet's screenshot."""
    page.goto(demo.base_url + "/dashboard")
    expect(page.locator("#sign-in-title")).to_be_visible()
    assert serious_violations(page) == []
    # A wrong password: the API's message in the form's alert region.
    page.get_by_label("Email").fill(demo.info["operator"]["email"])
    page.get_by_label("Password").fill("not-the-password-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in [data-form-error]")).not_to_be_empty()
    operator = demo.info["operator"]
    sign_in(page, demo, operator["email"], operator["password"])
    expect(page.locator("#view h1")).to_have_text("Fleet")
    rows = page.locator("#view tbody tr[data-store-id]")
    expect(rows).to_have_count(len(demo.info["stores"]))
    for store in demo.info["stores"]:
        row = store_row(page, store["id"])
        expect(row).to_have_attribute("data-state", "connected", timeout=LIVE_TIMEOUT_MS)
        expect(row.locator("td").first).to_contain_text(store["name"])
        expect(row.locator("td a")).to_have_attribute("href", f"#/stores/{store['id']}")
    connected = page.locator('#view button.fleet-toggle[data-state="connected"]')
    expect(connected).to_contain_text("4")
    # A state filter and the name search narrow the table.
    connected.click()
    expect(connected).to_have_attribute("aria-pressed", "true")
    expect(rows).to_have_count(4)
    connected.click()
    first = demo.info["stores"][0]
    page.get_by_label("Store name").fill(first["name"])
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(store_row(page, first["id"])).to_be_visible()
    page.get_by_label("Store name").fill("")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(4)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.locator("#live-state")).to_have_text("Live updates: connected")
    path = tmp_path / "console-fleet.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("RIDGELINE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)


def test_refused_credentials_turn_a_store_red_live_and_its_alert_is_acknowledged(
    demo: Demo,
    page: Page,
    api: httpx.Client,
    operator_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    """(b) the simulator refuses the Dutchie store's credentials; a sync the operator asks for
    meets the 401, the store turns `error` on the open fleet without a reload, its
    `store_credentials_refused` alert shows in the alerts view and is acknowledged with the
    button; the alerts view's forms show the API's errors beside the field; (d) axe on the
    alerts view; (e) no secret in storage, request URLs or the page."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    def socket_opened(socket: WebSocket) -> None:
        urls.append(socket.url)

    page.on("websocket", socket_opened)
    channel = api.post(
        "/api/v1/alert-channels",
        json={"name": "Ops stream", "kind": "ops", "config": {}},
        headers=operator_headers,
    )
    assert channel.status_code == 201, channel.text
    operator = demo.info["operator"]
    sign_in(page, demo, operator["email"], operator["password"])
    dutchie = demo.store("dutchie")
    row = store_row(page, dutchie["id"])
    expect(row).to_have_attribute("data-state", "connected", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#live-state")).to_have_text("Live updates: connected")
    page.evaluate("window.__notReloaded = true")

    faults = f"{demo.info['simulator']['control_url']}/{dutchie['simulator_store_id']}/faults"
    added = httpx.post(faults, json={"endpoint": "*", "kind": "unauthorized"}, timeout=10)
    assert added.status_code == 201, added.text
    began = time.monotonic()
    try:
        for _ in range(20):  # a scheduled sync may be running: then ask again
            queued = api.post(
                f"/api/v1/stores/{dutchie['id']}/sync",
                json={"kind": "inventory"},
                headers=operator_headers,
            )
            if queued.status_code == 202:
                break
            assert queued.status_code == 409, queued.text
            time.sleep(0.5)
        try:
            expect(row).to_have_attribute("data-state", "error", timeout=LIVE_TIMEOUT_MS)
        except AssertionError:
            pytest.fail("the store never turned error on the page:\n" + demo.log_tail())
    finally:
        httpx.delete(faults, timeout=10)
    log.info("store shown in error %.1f s after the fault", time.monotonic() - began)
    assert page.evaluate("window.__notReloaded") is True
    expect(row.locator(".badge.error")).to_be_visible()
    expect(row).to_contain_text("credentials refused")
    expect(page.locator("#announcer")).to_contain_text(f"Store {dutchie['name']} is now error")
    for other in demo.info["stores"]:
        if other["id"] != dutchie["id"]:
            expect(store_row(page, other["id"])).to_have_attribute("data-state", "connected")
    expect(page.locator('#view button.fleet-toggle[data-state="error"]')).to_contain_text("1")
    expect(row).to_contain_text("critical", timeout=LIVE_TIMEOUT_MS)

    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("#view h1")).to_have_text("Alerts")
    alert = page.locator('#view tr[data-rule="store_credentials_refused"]')
    expect(alert).to_have_attribute("data-state", "firing", timeout=LIVE_TIMEOUT_MS)
    expect(alert).to_contain_text(dutchie["name"])
    expect(alert.locator(".badge.critical")).to_be_visible()
    alert.get_by_role("button", name="Acknowledge").click()
    expect(alert).to_have_attribute("data-state", "acknowledged")
    expect(alert.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("#announcer")).to_contain_text("Alert acknowledged")

    # A channel's test notification and its deliveries.
    channel_item = page.locator(f'#view li[data-channel-id="{channel.json()["data"]["id"]}"]')
    channel_item.get_by_role("button", name="Send a test to Ops stream").click()
    expect(channel_item.locator("li[data-delivery-id]")).not_to_have_count(0)

    # A silence without an end: the API's message beside the field; then a real one.
    silence_form = page.locator("#view form", has=page.locator("#silence-ends"))
    page.locator("#silence-0-value").fill("sync_failed")
    page.locator("#silence-ends").fill("")
    silence_form.get_by_role("button", name="Create silence").click()
    expect(page.locator("#silence-ends")).to_have_attribute("aria-invalid", "true")
    expect(silence_form.locator(".field-error")).to_be_visible()
    in_a_week = datetime.now(ZoneInfo("America/Denver")) + timedelta(days=7)  # the page's zone
    page.locator("#silence-ends").fill(in_a_week.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#silence-comment").fill("planned POS work")
    silence_form.get_by_role("button", name="Create silence").click()
    expect(page.locator("#view li[data-silence-id]")).to_contain_text("rule = sync_failed")
    expect(silence_form.locator(".field-error")).to_have_count(0)

    # An escalation policy: without name or channel each error beside its field; then created.
    policy_form = page.locator("#view form", has=page.locator("#policy-name"))
    policy_form.get_by_role("button", name="Create policy").click()
    expect(page.locator("#policy-name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#policy-channels")).to_have_attribute("aria-invalid", "true")
    page.locator("#policy-name").fill("On call")
    page.locator("#policy-channels").select_option(label="Ops stream")
    policy_form.get_by_role("button", name="Create policy").click()
    expect(page.locator("#view li[data-policy-id]")).to_contain_text("On call")
    assert serious_violations(page) == []
    page.screenshot(path=str(tmp_path / "console-alerts.png"), full_page=True)

    # (e) No secret kept or sent where it could leak.
    assert page.evaluate("window.localStorage.length") == 0
    keys = page.evaluate("Object.keys(window.sessionStorage)")
    assert keys == ["ridgeline.session"]
    session = json.loads(page.evaluate("window.sessionStorage.getItem('ridgeline.session')"))
    secrets = [session["access_token"], session["refresh_token"], operator["password"]]
    assert urls
    for url in urls:
        for secret in secrets:
            assert secret not in url, url
    content = page.content()
    for secret in secrets:
        assert secret not in content


def test_a_viewer_sees_no_action(demo: Demo, page: Page, viewer: dict[str, str]) -> None:
    """(c) a viewer reads the fleet and the alerts, with no button or form that would fail.
    Runs after the credentials test: its alert and channel are on the page."""
    sign_in(page, demo, viewer["email"], viewer["password"])
    expect(page.locator("#account-who")).to_contain_text("viewer")
    expect(page.locator("#view tbody tr[data-store-id]")).to_have_count(len(demo.info["stores"]))
    expect(page.locator("#view [data-action]")).to_have_count(0)
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("#view h1")).to_have_text("Alerts")
    expect(page.locator("#view h2", has_text="Escalation policies")).to_be_visible()
    expect(page.locator("#view tr[data-alert-id]")).not_to_have_count(0)
    expect(page.locator("#view li[data-channel-id]")).not_to_have_count(0)
    expect(page.locator("#view [data-action]")).to_have_count(0)
    expect(page.locator("#view form.console-form")).to_have_count(0)
    expect(page.locator("#view th", has_text="Actions")).to_have_count(0)
    for name in ("Acknowledge", "Resolve", "Send a test", "End", "Edit", "Create silence"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    assert serious_violations(page) == []


def test_an_org_admin_creates_edits_and_deletes_a_channel(demo: Demo, page: Page) -> None:
    """The channel form: the kind's fields, the API's error beside the field at fault, a secret
    never shown back, an edit that keeps it, and a delete that takes a second click."""
    operator = demo.info["operator"]
    sign_in(page, demo, operator["email"], operator["password"])
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("#view h1")).to_have_text("Alerts")
    expect(page.locator("#view")).to_have_attribute("aria-busy", "false")
    page.locator('[data-action="new-channel"]').click()
    form = page.locator('form[data-channel-form="new"]')
    form.get_by_label("Name", exact=True).fill("On-call webhook")
    form.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/hook")
    form.get_by_label("Signing secret", exact=True).fill("short")
    form.get_by_role("button", name="Save channel").click()
    expect(form.locator("#channel-new-secret-error")).to_be_visible()
    expect(form.get_by_label("Signing secret", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    secret = "a-signing-secret-long-enough"
    form.get_by_label("Signing secret", exact=True).fill(secret)
    form.get_by_role("button", name="Save channel").click()
    item = page.locator("#view li[data-channel-id]", has_text="On-call webhook")
    expect(item).to_have_count(1)
    assert secret not in page.content()

    item.get_by_role("button", name="Edit On-call webhook").click()
    edit = page.locator('form[data-channel-form]:not([data-channel-form="new"])')
    expect(edit.get_by_label("Signing secret", exact=True)).to_have_value("")
    edit.get_by_label("Name", exact=True).fill("Night webhook")
    edit.get_by_role("button", name="Save channel").click()
    renamed = page.locator("#view li[data-channel-id]", has_text="Night webhook")
    expect(renamed).to_have_count(1)
    assert serious_violations(page) == []

    delete = renamed.get_by_role("button", name="Delete Night webhook")
    delete.click()
    expect(delete).to_have_text("Confirm delete")
    delete.click()
    expect(page.locator("#view li[data-channel-id]", has_text="Night webhook")).to_have_count(0)


def test_the_fleet_pages_500_stores_without_a_request_per_store(
    demo: Demo, page: Page, api: httpx.Client, operator_headers: dict[str, str]
) -> None:
    """Last (it adds stores): 496 more stores, read 200 a request with "Load more"; the page
    asks nothing per store."""
    for index in range(500 - len(demo.info["stores"])):
        created = api.post(
            "/api/v1/stores", json={"name": f"Zone {index:03d}"}, headers=operator_headers
        )
        assert created.status_code == 201, created.text
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    operator = demo.info["operator"]
    began = time.monotonic()
    sign_in(page, demo, operator["email"], operator["password"])
    rows = page.locator("#view tbody tr[data-store-id]")
    expect(rows).to_have_count(200)
    expect(page.locator("#view > .view > p.muted").first).to_have_text("500 stores")
    more = page.get_by_role("button", name="Load more")
    more.click()
    expect(rows).to_have_count(400)
    more.click()
    expect(rows).to_have_count(500)
    expect(more).to_be_hidden()
    log.info("500 stores shown %.1f s after the sign-in began", time.monotonic() - began)
    api_calls = [url for url in urls if "/api/v1/" in url]
    fleet_calls = [url for url in api_calls if "/api/v1/fleet" in url]
    assert all("limit=200" in url for url in fleet_calls), fleet_calls
    assert not [url for url in api_calls if "/api/v1/stores" in url], api_calls
    assert len(api_calls) <= 10, api_calls  # the sign-in, /auth/me and a few fleet pages


def test_an_org_admin_deletes_an_escalation_policy_with_two_clicks(
    demo: Demo, page: Page, api: httpx.Client, operator_headers: dict[str, str]
) -> None:
    """An escalation policy made through the API is deleted from the alerts view: the first
    click on its Delete asks for a confirmation, the second deletes it (the API agrees)."""
    channel = api.post(
        "/api/v1/alert-channels",
        json={"name": "Policy stream", "kind": "ops", "config": {}},
        headers=operator_headers,
    )
    assert channel.status_code == 201, channel.text
    created = api.post(
        "/api/v1/escalation-policies",
        json={
            "name": "Jobs pager",
            "levels": [{"delay_s": 0, "channel_ids": [channel.json()["data"]["id"]]}],
            "rules": ["jobs_dead"],
        },
        headers=operator_headers,
    )
    assert created.status_code == 201, created.text
    policy_id = created.json()["data"]["id"]
    operator = demo.info["operator"]
    sign_in(page, demo, operator["email"], operator["password"])
    page.get_by_role("link", name="Alerts").click()
    expect(page.locator("#view h1")).to_have_text("Alerts")
    item = page.locator(f'#view li[data-policy-id="{policy_id}"]')
    expect(item).to_contain_text("Jobs pager")
    delete = item.get_by_role("button", name="Delete Jobs pager")
    expect(delete).to_have_attribute("data-action", "delete-policy")
    delete.click()
    expect(delete).to_have_text("Confirm delete")
    expect(item).to_have_count(1)
    delete.click()
    expect(item).to_have_count(0)
    gone = api.get(f"/api/v1/escalation-policies/{policy_id}", headers=operator_headers)
    assert gone.status_code == 404, gone.text
