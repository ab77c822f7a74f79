"""The console's System page, stores administration and a store's POS webhooks in a real browser
against the real demo: a platform admin reads the job queue, the processes and /cable, opens a
succeeded job (no Retry) and a dead one and retries it, and creates an organization; the demo's
org admin adds a store from the fleet (a field error first), renames it and deletes it, and
reads the BLAZE store's webhook URL, registers it and sees the event the simulated POS pushes;
a viewer sees none of the forms; axe-core on the System page and the store page."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from ridgeline.clock import SystemClock
from ridgeline.db.engine import Database
from ridgeline.jobs import enqueue
from tests.browser.conftest import Demo, create_user, serious_violations, sign_in_to_console

WAIT_S = 30.0


@pytest.fixture(autouse=True)
def no_script_errors(demo: Demo, page: Page) -> Iterator[None]:
    """Every test here fails on an uncaught error in the page's scripts (the demo is asked for
    first so that it is torn down last)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield
    assert errors == []


def token_headers(demo: Demo, email: str, password: str) -> dict[str, str]:
    response = httpx.post(
        demo.base_url + "/api/v1/auth/token", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


def wait_for(what: str, found: Callable[[], Any]) -> Any:
    """Polls `found()` until it returns something truthy (a precondition set up outside the
    page, such as the worker finishing a job), failing after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = found()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


async def _enqueue_unfit_job(database_url: str) -> uuid.UUID:
    """A `sync.run` job whose payload its handler cannot read, queued as any job is: the demo's
    worker makes it dead at once (`bad sync.run payload`), as it would a job queued by an older
    release."""
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            job = await enqueue(session, "sync.run", {"store": "gone"}, clock=SystemClock())
            assert job is not None
            return job.id
    finally:
        await database.dispose()


def test_platform_admin_reads_the_system_and_retries_a_dead_job(demo: Demo, page: Page) -> None:
    admin = create_user(demo, "support@example.com", "support-password-1", "platform_admin")
    headers = token_headers(demo, admin["email"], admin["password"])
    sign_in_to_console(page, demo, admin["email"], admin["password"])
    page.get_by_role("link", name="System").click()
    expect(page.locator("#view h1")).to_have_text("System")

    # The queue's counts and jobs, the processes' figures and /cable.
    succeeded = page.locator('#job-counts button[data-status="succeeded"]')
    expect(succeeded.locator(".fleet-count")).not_to_have_text("0")
    expect(page.locator("#jobs-list tbody tr").first).to_be_visible()
    expect(page.locator("#processes-list tbody tr").first).to_be_visible()
    expect(page.locator("#processes-list")).to_contain_text("answered this page")
    expect(page.locator("#cable-status")).to_contain_text("Operators connected")

    # A succeeded job: its detail, and no Retry.
    succeeded.click()
    expect(succeeded).to_have_attribute("aria-pressed", "true")
    first = page.locator('#jobs-list tbody tr[data-status="succeeded"]').first
    first.get_by_role("button").click()
    detail = page.locator("#job-detail")
    expect(detail).to_be_focused()
    expect(detail.locator('dd [data-state="succeeded"]')).to_be_visible()
    expect(detail).to_contain_text("Payload")
    expect(detail.locator('[data-action="retry-job"]')).to_have_count(0)

    # A dead job: its error, and Retry.
    # Playwright's event loop runs in this thread: the queue is written from another.
    with ThreadPoolExecutor(max_workers=1) as thread:
        database_url = demo.settings.database_url
        job_id = thread.submit(lambda: asyncio.run(_enqueue_unfit_job(database_url))).result()
    url = f"{demo.base_url}/api/v1/jobs/{job_id}"
    dead = wait_for(
        "the job to die",
        lambda: (job := httpx.get(url, headers=headers).json()["data"])["status"] == "dead" and job,
    )
    page.locator('#job-counts button[data-status="dead"]').click()
    row = page.locator(f'#jobs-list tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("bad sync.run payload")
    row.get_by_role("button").click()
    expect(detail).to_contain_text("bad sync.run payload")
    detail.get_by_role("button", name="Retry this job").click()
    expect(page.locator('[data-result="retry"]')).to_contain_text("Queued again")
    retried = httpx.get(url, headers=headers).json()["data"]
    assert retried["run_at"] > dead["run_at"]

    # A new organization.
    form = page.locator("#organization-new")
    form.get_by_label("Name").fill("Second Retailer")
    form.get_by_label("Slug").fill("second-retailer")
    form.get_by_role("button", name="Create organization").click()
    expect(page.locator("#organizations-list")).to_contain_text("second-retailer")
    listed = httpx.get(demo.base_url + "/api/v1/organizations", headers=headers).json()["data"]
    assert "Second Retailer" in [organization["name"] for organization in listed]

    assert serious_violations(page) == []


def test_org_admin_adds_renames_and_deletes_a_store(demo: Demo, page: Page) -> None:
    operator = demo.info["operator"]
    headers = token_headers(demo, operator["email"], operator["password"])
    sign_in_to_console(page, demo, operator["email"], operator["password"])
    expect(page.get_by_role("link", name="System")).to_have_count(0)

    form = page.locator("#store-new")
    form.get_by_label("Name").fill("Pop-up Shop")
    form.get_by_label("Time zone").fill("America/Toronto")
    form.get_by_label("Currency").fill("cad")
    form.get_by_role("button", name="Add store").click()
    expect(page.locator("#store-new-currency-error")).to_be_visible()
    expect(form.get_by_label("Currency")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("Currency").fill("CAD")
    form.get_by_role("button", name="Add store").click()
    expect(page.locator("#store-title")).to_contain_text("Pop-up Shop")
    store_id = page.evaluate("window.location.hash").split("/")[2]
    store_url = f"{demo.base_url}/api/v1/stores/{store_id}"
    created = httpx.get(store_url, headers=headers).json()["data"]
    assert (created["name"], created["timezone"], created["currency"]) == (
        "Pop-up Shop",
        "America/Toronto",
        "CAD",
    )
    # No POS yet: the webhooks section says so, quietly.
    expect(page.locator("#pos-webhook-setup")).to_contain_text("No POS is configured")

    edit = page.locator("#store-edit")
    edit.get_by_label("Name").fill("Pop-up Shop North")
    edit.get_by_role("button", name="Save store").click()
    expect(edit.locator(".step-result")).to_have_text("Pop-up Shop North saved.")
    expect(page.locator("#store-title")).to_contain_text("Pop-up Shop North")
    assert httpx.get(store_url, headers=headers).json()["data"]["name"] == "Pop-up Shop North"

    edit.locator('[data-action="delete-store"]').click()
    edit.get_by_role("button", name="Confirm delete Pop-up Shop North").click()
    expect(page.locator("#view h1")).to_have_text("Fleet")
    assert httpx.get(store_url, headers=headers).status_code == 404


def test_store_webhooks_and_events_and_what_a_viewer_sees(demo: Demo, page: Page) -> None:
    operator = demo.info["operator"]
    headers = token_headers(demo, operator["email"], operator["password"])
    store = demo.store("blaze")
    sign_in_to_console(page, demo, operator["email"], operator["password"])
    page.evaluate("(hash) => { window.location.hash = hash; }", f"#/stores/{store['id']}")
    expect(page.locator("#store-title")).to_contain_text(store["name"])

    section = page.locator("#store-webhooks")
    section.get_by_text("Show the webhook URL").click()
    url = section.get_by_role("textbox", name="Webhook URL").input_value()
    assert url.startswith(f"{demo.base_url}/api/v1/pos-webhooks/{store['id']}?token=")
    section.get_by_role("button", name="Register with the POS").click()
    expect(page.locator('[data-result="webhooks"]')).to_contain_text("Registered")

    # The simulated POS changes a product and pushes BLAZE's UPDATE_PRODUCT to that URL.
    control = f"{demo.info['simulator']['control_url']}/{store['simulator_store_id']}"
    product = httpx.get(f"{control}/products", params={"limit": 1}).json()["products"][0]
    changed = httpx.patch(f"{control}/products/{product['id']}", json={"quantity": 7})
    assert changed.status_code == 200, changed.text
    events_url = f"{demo.base_url}/api/v1/stores/{store['id']}/pos-events"
    wait_for(
        "the POS event to be processed",
        lambda: any(
            event["processed_at"] and product["id"] in str(event["payload"])
            for event in httpx.get(events_url, headers=headers).json()["data"]
        ),
    )
    section.get_by_role("button", name="Refresh events").click()
    row = section.locator('#pos-events tr[data-event-type="UPDATE_PRODUCT"]').first
    expect(row).to_be_visible()
    expect(row.locator("[data-state]")).to_have_attribute("data-state", "succeeded")
    assert serious_violations(page) == []

    # A viewer: the events, and no form, button or URL the API would refuse them.
    viewer = create_user(
        demo,
        "viewer-system@example.com",
        "viewer-password-1",
        "viewer",
        organization_id=demo.info["organization"]["id"],
    )
    page.get_by_role("button", name="Sign out").click()
    sign_in_to_console(page, demo, viewer["email"], viewer["password"])
    expect(page.locator("#view h1")).to_have_text("Fleet")
    expect(page.get_by_role("link", name="System")).to_have_count(0)
    expect(page.locator("#store-new")).to_have_count(0)
    page.evaluate("(hash) => { window.location.hash = hash; }", f"#/stores/{store['id']}")
    expect(page.locator("#store-title")).to_contain_text(store["name"])
    expect(page.locator('#pos-events tr[data-event-type="UPDATE_PRODUCT"]').first).to_be_visible()
    for absent in ("#store-edit", "#pos-webhook-setup", "#pos-webhook-url", "#organization-new"):
        expect(page.locator(absent)).to_have_count(0)
    expect(page.locator('[data-action="register-webhooks"]')).to_have_count(0)
    expect(page.locator('[data-action="delete-store"]')).to_have_count(0)
    page.evaluate("() => { window.location.hash = '#/system'; }")
    expect(page.locator("#view")).to_contain_text("for platform admins")
    expect(page.locator("#job-queue")).to_have_count(0)
