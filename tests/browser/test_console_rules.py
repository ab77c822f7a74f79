"""The console's alert rules and alert groups in a real browser against the real demo: an org
admin overrides a rule for the organization (a bad value's error beside its field), removes the
override and sets a store's; a refused-credentials alert shows in its group, which is
acknowledged in one click; a viewer reads both pages with no form or action; axe-core finds
nothing serious on either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Demo, serious_violations
from tests.browser.conftest import sign_in_to_console as sign_in

LIVE_TIMEOUT_MS = 60_000
RULE = "sync_failed"
REFUSED = "store_credentials_refused"
VIEWER_EMAIL = "rules-viewer@ridgeline.example"
VIEWER_PASSWORD = "rules-viewer-browser-test"


@pytest.fixture(scope="module")
def api(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def headers(demo: Demo, api: httpx.Client) -> dict[str, str]:
    operator = demo.info["operator"]
    response = api.post(
        "/api/v1/auth/token", json={"email": operator["email"], "password": operator["password"]}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


def rule_of(api: httpx.Client, headers: dict[str, str], name: str, **query: str) -> Any:
    response = api.get("/api/v1/alert-rules", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return next(rule for rule in response.json()["data"] if rule["name"] == name)


def rule_row(page: Page, name: str) -> Any:
    return page.locator(f'#view tr[data-rule-name="{name}"]')


def open_rules(page: Page) -> None:
    page.locator('a[data-nav="rules"]').click()
    expect(page.locator("#view h1")).to_have_text("Alert rules")


def test_an_org_admin_overrides_a_rule_for_the_organization_and_for_a_store(
    demo: Demo, page: Page, api: httpx.Client, headers: dict[str, str]
) -> None:
    """A bad threshold: the API's own message beside the field; a good one shows as the
    organization's override (the API agrees); removed, the default is back; then a store's
    severity, shown for that store only."""
    rules = api.get("/api/v1/alert-rules", headers=headers).json()["data"]
    refused = api.put(f"/api/v1/alert-rules/{RULE}", json={"threshold": -1}, headers=headers)
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["details"]["fields"][0]["message"]

    operator = demo.info["operator"]
    sign_in(page, demo, operator["email"], operator["password"])
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.locator("#view h1")).to_have_text("Alerts")
    page.get_by_role("link", name="the alert rules").click()
    expect(page.locator("#view h1")).to_have_text("Alert rules")
    # Rules about Ridgeline itself are raised in the platform organization only: not offered.
    store_rules = [rule for rule in rules if rule["scope"] == "store"]
    assert len(store_rules) < len(rules)
    expect(page.locator("#view tr[data-rule-name]")).to_have_count(len(store_rules))
    row = rule_row(page, RULE)
    threshold = row.locator('td[data-field="threshold"]')
    expect(threshold).to_have_attribute("data-source", "default")
    expect(threshold).to_contain_text("5 consecutive failed runs")

    row.get_by_role("button", name=f"Edit {RULE}").click()
    form = page.locator('#view form[data-level="organization"]')
    expect(form).to_be_visible()
    expect(page.locator('#view form[data-level="store"]')).to_have_count(0)
    field = form.get_by_label("Threshold (consecutive failed runs)")
    field.fill("-1")
    form.get_by_role("button", name="Save organization override").click()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#organization-rule-threshold-error")).to_have_text(message)

    field.fill("4")
    form.get_by_role("button", name="Save organization override").click()
    expect(threshold).to_have_attribute("data-source", "organization")
    expect(threshold).to_contain_text("4 consecutive failed runs")
    expect(threshold).to_contain_text("organization override, default 5")
    expect(row).to_have_attribute("data-overridden", "organization")
    expect(form.locator(".field-error")).to_have_count(0)
    expect(page.locator("#rule-editor [role=status]")).to_contain_text("saved")
    saved = rule_of(api, headers, RULE)
    assert saved["organization_override"] == {"threshold": 4.0}
    assert saved["effective"]["threshold"] == 4.0
    assert serious_violations(page) == []

    form.get_by_role("button", name="Remove organization override").click()
    expect(threshold).to_have_attribute("data-source", "default")
    expect(row).to_have_attribute("data-overridden", "")
    assert rule_of(api, headers, RULE)["organization_override"] is None

    store = demo.store("dutchie")
    page.locator("#rules-store").select_option(label=store["name"])
    store_form = page.locator('#view form[data-level="store"]')
    expect(store_form).to_be_visible()
    expect(store_form.get_by_label("Group wait (s)")).to_have_count(0)
    store_form.get_by_label("Severity").select_option("critical")
    store_form.get_by_role("button", name="Save store override").click()
    severity = row.locator('td[data-field="severity"]')
    expect(severity).to_have_attribute("data-source", "store")
    expect(severity).to_contain_text("store override, default warning")
    expect(page.locator('#rule-editor tr[data-setting="severity"]')).to_contain_text("critical")
    at_store = rule_of(api, headers, RULE, store_id=store["id"])
    assert at_store["store_override"] == {"severity": "critical"}
    assert rule_of(api, headers, RULE)["effective"]["severity"] == "warning"
    # The organization's settings alone again: the store's override is not among them.
    page.locator("#rules-store").select_option("")
    expect(severity).to_have_attribute("data-source", "default")
    assert serious_violations(page) == []


def test_an_alert_group_is_acknowledged_in_one_click(
    demo: Demo, page: Page, api: httpx.Client, headers: dict[str, str]
) -> None:
    """The simulator refuses the Blaze store's credentials: its alert fires, its group shows
    on the alerts page without a reload, lists it, and "Acknowledge group" acknowledges it."""
    operator = demo.info["operator"]
    sign_in(page, demo, operator["email"], operator["password"])
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.locator("#view h2", has_text="Alert groups")).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("Live updates: connected")
    store = demo.store("blaze")
    faults = f"{demo.info['simulator']['control_url']}/{store['simulator_store_id']}/faults"
    added = httpx.post(faults, json={"endpoint": "*", "kind": "unauthorized"}, timeout=10)
    assert added.status_code == 201, added.text
    group = page.locator(f'#view tr[data-group-rule="{REFUSED}"]')
    try:
        for _ in range(20):  # a scheduled sync may be running: then ask again
            queued = api.post(
                f"/api/v1/stores/{store['id']}/sync", json={"kind": "inventory"}, headers=headers
            )
            if queued.status_code == 202:
                break
            assert queued.status_code == 409, queued.text
            time.sleep(0.5)
        try:
            expect(group).to_have_attribute("data-state", "firing", timeout=LIVE_TIMEOUT_MS)
        except AssertionError:
            pytest.fail("the alert group never showed firing:\n" + demo.log_tail())
    finally:
        httpx.delete(faults, timeout=10)
    expect(group).to_contain_text("1 firing")

    group.get_by_role("button", name=f"Show the alerts of group {REFUSED}").click()
    alert = page.locator("#view li[data-group-alert]", has_text=store["name"])
    expect(alert).to_have_attribute("data-state", "firing")
    group.get_by_role("button", name=f"Acknowledge group {REFUSED}").click()
    expect(group).to_have_attribute("data-state", "acknowledged")
    expect(group).to_contain_text("1 acknowledged")
    expect(group.get_by_role("button", name="Acknowledge group")).to_have_count(0)
    expect(alert).to_have_attribute("data-state", "acknowledged")
    expect(page.locator(f'#view tr[data-rule="{REFUSED}"]')).to_have_attribute(
        "data-state", "acknowledged"
    )
    expect(page.locator("#announcer")).to_contain_text(f"Group {REFUSED} acknowledged")
    group_id = group.get_attribute("data-group-id")
    listed = api.get("/api/v1/alerts", params={"group_id": group_id}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert {a["state"] for a in listed.json()["data"]} == {"acknowledged"}
    assert serious_violations(page) == []


def test_a_viewer_reads_rules_and_groups_with_no_form(
    demo: Demo, page: Page, api: httpx.Client, headers: dict[str, str]
) -> None:
    """Runs after the tests above: the store's override and the group are there to read. The
    viewer is made by the org admin through the API (quicker than the CLI)."""
    created = api.post(
        "/api/v1/operators",
        json={"email": VIEWER_EMAIL, "password": VIEWER_PASSWORD, "role": "viewer"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    sign_in(page, demo, VIEWER_EMAIL, VIEWER_PASSWORD)
    open_rules(page)
    rules = api.get("/api/v1/alert-rules", headers=headers).json()["data"]
    store_rules = [rule for rule in rules if rule["scope"] == "store"]
    expect(page.locator("#view tr[data-rule-name]")).to_have_count(len(store_rules))
    page.locator("#rules-store").select_option(label=demo.store("dutchie")["name"])
    severity = rule_row(page, RULE).locator('td[data-field="severity"]')
    expect(severity).to_have_attribute("data-source", "store")
    expect(page.locator("#view [data-action]")).to_have_count(0)
    expect(page.locator("#view form.console-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit")).to_have_count(0)
    assert serious_violations(page) == []

    page.get_by_role("link", name="Alerts", exact=True).click()
    group = page.locator(f'#view tr[data-group-rule="{REFUSED}"]')
    expect(group).to_be_visible()
    group.get_by_role("button", name=f"Show the alerts of group {REFUSED}").click()
    expect(page.locator("#view li[data-group-alert]")).not_to_have_count(0)
    expect(page.locator("#view [data-action]")).to_have_count(0)
    expect(page.get_by_role("button", name="Acknowledge group")).to_have_count(0)
    assert serious_violations(page) == []
