"""The console's status page view in a real browser against the real demo: a platform admin
saves an incident unpublished, publishes the draft in one click and sees it on the public page,
resolves it, overrides a component and removes the override, gets a form error beside its
field; axe-core finds nothing serious; the demo's org admin has no link to the view."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Demo, create_user, serious_violations
from tests.browser.conftest import sign_in_to_console as sign_in

ADMIN_EMAIL = "console-status-admin@ridgeline.example"
ADMIN_PASSWORD = "console-status-page-browser-test"
ZONE = ZoneInfo("America/Denver")  # the browser's zone (conftest's `page`)


@pytest.fixture(scope="module")
def platform_admin(demo: Demo) -> dict[str, str]:
    """A platform admin made with the CLI against the demo's database."""
    return create_user(demo, ADMIN_EMAIL, ADMIN_PASSWORD, "platform_admin")


def local(moment: datetime) -> str:
    """A datetime-local input's value in the browser's zone."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def public_component(page: Page, key: str) -> Any:
    return page.locator(f'.component[data-key="{key}"]')


def test_a_platform_admin_runs_the_status_page_from_the_console(
    demo: Demo, page: Page, platform_admin: dict[str, str]
) -> None:
    began = time.monotonic()
    sign_in(page, demo, platform_admin["email"], platform_admin["password"])
    link = page.locator('nav a[data-nav="statuspage"]')
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("#view h1")).to_have_text("Status page")
    expect(page.locator("#view tr[data-component]")).to_have_count(8)
    announcer = page.locator("#announcer")
    public = page.context.new_page()

    # An incident saved unpublished lands under drafts.
    name = "Slow order delivery"
    page.locator("#sp-incident-name").fill(name)
    page.locator("#sp-incident-body").fill("Orders reach some POS systems late.")
    page.locator("#sp-incident-component-order_submission").select_option("degraded_performance")
    page.locator("#sp-incident-publish").uncheck()
    page.locator('[data-action="create-incident"]').click()
    expect(announcer).to_have_text(f"Draft saved: {name}")
    expect(page.locator("#sp-incident-publish")).to_be_checked()  # the form is reset
    draft = page.locator("#view li[data-incident-id]", has_text=name)
    expect(draft).to_contain_text("Order submission (Degraded performance)")
    incident_id = draft.get_attribute("data-incident-id")
    public.goto(demo.base_url + "/status")
    expect(public.locator("#banner")).to_be_visible()
    assert name not in public.content()

    # Published in one click: off the drafts, open here and on the public page.
    page.get_by_role("button", name=f"Publish {name}").click()
    expect(announcer).to_have_text(f"Published: {name}")
    expect(draft).to_have_count(0)
    article = page.locator(f'#view article[data-incident-id="{incident_id}"]')
    expect(article.locator("h3")).to_have_text(name)
    expect(article.get_by_role("link", name=f"Public page of {name}")).to_have_attribute(
        "href", f"/status/incidents/{incident_id}"
    )
    public.reload()
    expect(public.locator(f'#incidents article[data-id="{incident_id}"] h3')).to_have_text(name)
    expect(public_component(public, "order_submission")).to_have_attribute(
        "data-status", "degraded_performance"
    )
    assert serious_violations(page) == []

    # Resolved: no longer open, and its public page shows the update.
    article.locator("select[name=status]").select_option("resolved")
    article.locator("textarea[name=body]").fill("Orders are delivered on time again.")
    article.locator('[data-action="post-update"]').click()
    expect(announcer).to_have_text(f"Update posted: {name} is Resolved")
    expect(article).to_have_count(0)
    public.goto(f"{demo.base_url}/status/incidents/{incident_id}")
    expect(public.locator(".update__status").first).to_have_text("Resolved")

    # An override with its reason: shown here and on the public page, then removed.
    row = page.locator('#view tr[data-component="api"]')
    row.locator("summary").click()
    row.locator("select[name=status]").select_option("partial_outage")
    row.locator("input[name=reason]").fill("Investigating slow API responses")
    row.locator('[data-action="override"]').click()
    expect(announcer).to_have_text("Override set: API shows Partial outage")
    expect(row.locator('[data-role="override-reason"]')).to_have_text(
        "Investigating slow API responses"
    )
    expect(row.locator('[data-cell="shown"]')).to_have_text("Partial outage")
    public.goto(demo.base_url + "/status")
    expect(public_component(public, "api")).to_have_attribute("data-status", "partial_outage")
    row.get_by_role("button", name="Remove the override on API").click()
    expect(announcer).to_have_text("Override removed: API is back to its rules")
    expect(row.locator('[data-cell="override"]')).to_have_text("none")
    expect(row.locator('[data-action="remove-override"]')).to_be_hidden()
    public.reload()
    expect(public_component(public, "api")).to_have_attribute("data-status", "operational")

    # Maintenance ending before it starts: the API's message beside the end.
    form = page.locator("form[aria-labelledby=sp-maintenance-title]")
    start = (datetime.now(ZONE) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    form.locator("#sp-maintenance-name").fill("Database upgrade")
    form.locator("#sp-maintenance-body").fill("The API may be slow for a few minutes.")
    form.locator("#sp-maintenance-component-api").check()
    form.locator("#sp-maintenance-start").fill(local(start))
    form.locator("#sp-maintenance-end").fill(local(start - timedelta(hours=1)))
    form.locator('[data-action="schedule-maintenance"]').click()
    end_error = form.locator("#sp-maintenance-end-error")
    expect(end_error).to_contain_text("must be after scheduled_for")
    expect(form.locator("#sp-maintenance-end")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#sp-maintenance-end")).to_be_focused()
    assert serious_violations(page) == []
    # Corrected, it is scheduled and open.
    form.locator("#sp-maintenance-end").fill(local(start + timedelta(hours=2)))
    form.locator('[data-action="schedule-maintenance"]').click()
    expect(announcer).to_have_text("Maintenance scheduled: Database upgrade")
    expect(end_error).to_have_count(0)
    maintenance = page.locator("#view article[data-incident-id]", has_text="Database upgrade")
    expect(maintenance).to_contain_text("Scheduled")
    expect(maintenance.locator("select[name=status] option")).to_have_text(
        ["Scheduled", "In progress", "Verifying", "Completed"]
    )
    public.close()
    assert time.monotonic() - began < 60


def test_the_org_admin_has_no_status_page_link(demo: Demo, page: Page) -> None:
    operator = demo.info["operator"]
    sign_in(page, demo, operator["email"], operator["password"])
    expect(page.locator('nav a[data-nav="fleet"]')).to_be_visible()
    expect(page.locator('nav a[data-nav="statuspage"]')).to_be_hidden()
    expect(page.get_by_role("link", name="Status page")).to_have_count(0)
