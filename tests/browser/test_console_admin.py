"""The console's administration screens in a real browser against the real demo: an org admin
registers a kiosk, issues it a key (shown once, copied, opened on the kiosk page), revokes it and
disables the kiosk, each checked with the key itself against the API; creates a store manager
limited to one store, who then signs in and sees only that store; the API's errors beside their
field; a viewer with no admin form and no Operators link; axe-core on both screens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Demo, serious_violations, sign_in_to_console

VIEWER_EMAIL = "admin-screens-viewer@ridgeline.example"
VIEWER_PASSWORD = "admin-screens-viewer-password"
MANAGER_EMAIL = "mia.manager@ridgeline.example"
MANAGER_PASSWORD = "mia-manager-long-password"
# Presence is flushed to the ops stream every few seconds.
LIVE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def api(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
def no_script_errors(demo: Demo, page: Page) -> Iterator[None]:
    """Every test here fails on an uncaught error in the page's scripts. It asks for the demo
    first so the demo is torn down last, once Playwright's event loop has stopped."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield
    assert errors == []


def sign_in_as_admin(page: Page, demo: Demo) -> None:
    operator = demo.info["operator"]
    sign_in_to_console(page, demo, operator["email"], operator["password"])
    expect(page.locator("#view")).to_have_attribute("aria-busy", "false")


def go(page: Page, hash_: str) -> None:
    """Navigates the console to `hash_` and returns once that view has rendered."""
    page.evaluate(
        """(hash) => new Promise((resolve) => {
            window.addEventListener("hashchange", () => resolve(), { once: true });
            window.location.hash = hash;
        })""",
        hash_,
    )
    # Our listener ran after the router's, which marked the view busy before its first await.
    expect(page.locator("#view")).to_have_attribute("aria-busy", "false")


def kiosk_me(api: httpx.Client, key: str) -> httpx.Response:
    return api.get("/api/v1/kiosks/me", headers={"Authorization": f"Bearer {key}"})


def test_an_org_admin_registers_a_kiosk_and_issues_opens_and_revokes_its_key(
    demo: Demo, page: Page, api: httpx.Client
) -> None:
    store: dict[str, Any] = demo.store("treez")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo.base_url)
    sign_in_as_admin(page, demo)
    go(page, f"#/stores/{store['id']}")
    page.get_by_role("link", name="Kiosks and keys").click()
    expect(page.locator("#kiosks-title")).to_have_text(f"Kiosks of {store['name']}")
    expect(page.get_by_role("link", name=f"\u2190 {store['name']}")).to_have_attribute(
        "href", f"#/stores/{store['id']}"
    )
    expect(page.locator("#kiosks-table tbody tr")).not_to_have_count(0)

    # An empty name is refused by the API, beside the field; then the kiosk is registered.
    form = page.locator("#kiosk-new")
    form.get_by_role("button", name="Register kiosk").click()
    expect(page.locator("#kiosk-new-name-error")).to_be_visible()
    expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Name").fill("Test Counter")
    form.get_by_role("button", name="Register kiosk").click()
    row = page.locator("#kiosks-table tr[data-kiosk-id]", has_text="Test Counter")
    expect(row).to_have_attribute("data-status", "active")
    keys = page.locator("#kiosk-keys")
    expect(keys.locator("h2")).to_have_text("API keys of Test Counter")
    expect(keys).to_contain_text("No key")
    assert serious_violations(page) == []

    # A key, shown once in its box: copied, and opening the kiosk page with it.
    keys.get_by_role("button", name="Issue key").click()
    box = page.locator("#new-key")
    expect(box).to_contain_text("shown once")
    key = box.get_by_label("API key").input_value()
    assert key.startswith("rk_live_")
    box.get_by_role("button", name="Copy key").click()
    expect(box.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == key
    expect(keys.locator("tr[data-key-id]")).to_have_count(1)
    assert key not in page.evaluate("JSON.stringify([{...sessionStorage}, {...localStorage}])")
    assert serious_violations(page) == []
    with page.context.expect_page() as opened:
        box.get_by_role("link", name="Open the kiosk page with this key").click()
    kiosk_tab = opened.value
    expect(kiosk_tab.locator("#kiosk-name")).to_have_text("Kiosk: Test Counter")
    assert "key=" not in kiosk_tab.url
    # The kiosk's /cable connection shows on the open console page (OpsChannel's presence).
    expect(row.locator("[data-presence]")).to_have_attribute(
        "data-presence", "connected", timeout=LIVE_TIMEOUT_MS
    )
    kiosk_tab.close()
    me = kiosk_me(api, key)
    assert me.status_code == 200, me.text
    assert me.json()["data"]["name"] == "Test Counter"

    # Revoked: the key answers 401 at once.
    keys.get_by_role("button", name=f"Revoke the key {key[:12]}", exact=False).click()
    expect(keys.locator("tr[data-key-id]").first).to_have_attribute("data-state", "revoked")
    assert kiosk_me(api, key).status_code == 401

    # A second key, and the view left and opened again: its box is gone with the view.
    keys.get_by_role("button", name="Issue key").click()
    expect(keys.locator("tr[data-key-id]")).to_have_count(2)
    expect(box.get_by_label("API key")).not_to_have_value(key)
    second = box.get_by_label("API key").input_value()
    assert second.startswith("rk_live_")
    assert second != key
    go(page, f"#/stores/{store['id']}")
    expect(page.locator("#store-title")).to_contain_text(store["name"])
    page.go_back()
    expect(page.locator("#kiosks-title")).to_be_visible()
    expect(page.locator("#new-key")).to_have_count(0)
    assert second not in page.content()
    assert kiosk_me(api, second).status_code == 200

    # Renamed, then disabled: its keys stop working at once.
    row.get_by_role("button", name="Rename Test Counter").click()
    edit = page.locator("#kiosk-edit")
    edit.get_by_label("Name").fill("Front Counter")
    edit.get_by_role("button", name="Save kiosk").click()
    row = page.locator("#kiosks-table tr[data-kiosk-id]", has_text="Front Counter")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Disable Front Counter").click()
    expect(row).to_have_attribute("data-status", "disabled")
    assert kiosk_me(api, second).status_code == 401
    row.get_by_role("button", name="Enable Front Counter").click()
    expect(row).to_have_attribute("data-status", "active")

    # Deleted with a second click.
    delete = row.get_by_role("button", name="Delete Front Counter")
    delete.click()
    expect(delete).to_have_text("Confirm delete")
    delete.click()
    expect(row).to_have_count(0)
    assert kiosk_me(api, second).status_code == 401


def test_an_org_admin_creates_a_store_manager_who_sees_only_their_store(
    demo: Demo, page: Page, browser: Browser
) -> None:
    store: dict[str, Any] = demo.store("blaze")
    sign_in_as_admin(page, demo)
    page.get_by_role("link", name="Operators").click()
    expect(page.locator("#view h1")).to_have_text("Operators")
    admin_email = demo.info["operator"]["email"]
    expect(page.locator("#operators-table tr", has_text=admin_email)).to_contain_text("(you)")
    form = page.locator("#operator-new")
    roles = form.get_by_label("Role").locator("option").all_inner_texts()
    assert roles == ["viewer", "store manager", "org admin"]
    assert serious_violations(page) == []

    # The API's errors beside their field: a short password, then a taken email.
    form.get_by_label("Email").fill(MANAGER_EMAIL)
    form.get_by_label("Name").fill("Mia")
    form.get_by_label("Role").select_option("store_manager")
    form.get_by_label("Stores").select_option(label=store["name"])
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Create operator").click()
    expect(page.locator("#operator-new-password-error")).to_be_visible()
    expect(form.get_by_label("Password")).to_be_focused()
    form.get_by_label("Email").fill(admin_email)
    form.get_by_label("Password").fill(MANAGER_PASSWORD)
    form.get_by_role("button", name="Create operator").click()
    expect(page.locator("#operator-new-email-error")).to_contain_text("already exists")
    expect(page.locator("#operator-new-password-error")).to_have_count(0)
    form.get_by_label("Email").fill(MANAGER_EMAIL)
    form.get_by_role("button", name="Create operator").click()
    row = page.locator("#operators-table tr", has_text=MANAGER_EMAIL)
    expect(row).to_contain_text("store manager")
    expect(row).to_contain_text(store["name"])
    assert MANAGER_PASSWORD not in page.content()
    # The form is empty again, its role back to viewer: no store to pick.
    expect(form.get_by_label("Role")).to_have_value("viewer")
    expect(form.get_by_label("Stores")).to_be_hidden()

    # Renamed in the edit form.
    row.get_by_role("button", name=f"Edit {MANAGER_EMAIL}").click()
    edit = page.locator("#operator-edit")
    expect(edit.get_by_label("Stores")).to_be_visible()
    edit.get_by_label("Name", exact=True).fill("Mia Manager")
    edit.get_by_role("button", name="Save operator").click()
    expect(row).to_contain_text("Mia Manager")
    assert serious_violations(page) == []

    # The store manager signs in elsewhere and sees their one store, and no Operators link.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        theirs = context.new_page()
        theirs.set_default_timeout(15_000)
        sign_in_to_console(theirs, demo, MANAGER_EMAIL, MANAGER_PASSWORD)
        expect(theirs.locator("#account-who")).to_contain_text("store manager")
        fleet = theirs.locator("#view tbody tr[data-store-id]")
        expect(fleet).to_have_count(1)
        expect(fleet).to_have_attribute("data-store-id", store["id"])
        expect(theirs.get_by_role("link", name="Operators")).to_have_count(0)
    finally:
        context.close()

    # Deactivated, then deleted with a second click.
    row.get_by_role("button", name=f"Edit {MANAGER_EMAIL}").click()
    edit.get_by_label("Active").uncheck()
    edit.get_by_role("button", name="Save operator").click()
    expect(row).to_contain_text("deactivated")
    delete = row.get_by_role("button", name=f"Delete {MANAGER_EMAIL}")
    delete.click()
    expect(delete).to_have_text("Confirm delete")
    delete.click()
    expect(row).to_have_count(0)


def test_a_viewer_sees_no_admin_form(demo: Demo, page: Page, api: httpx.Client) -> None:
    store: dict[str, Any] = demo.store("treez")
    admin = demo.info["operator"]
    token = api.post(
        "/api/v1/auth/token", json={"email": admin["email"], "password": admin["password"]}
    )
    assert token.status_code == 200, token.text
    created = api.post(
        "/api/v1/operators",
        json={"email": VIEWER_EMAIL, "password": VIEWER_PASSWORD, "role": "viewer"},
        headers={"Authorization": f"Bearer {token.json()['data']['access_token']}"},
    )
    assert created.status_code == 201, created.text
    sign_in_to_console(page, demo, VIEWER_EMAIL, VIEWER_PASSWORD)
    expect(page.locator("#account-who")).to_contain_text("viewer")
    expect(page.get_by_role("link", name="Operators")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)
    go(page, f"#/stores/{store['id']}/kiosks")
    expect(page.locator("#kiosks-title")).to_have_text(f"Kiosks of {store['name']}")
    row = page.locator("#kiosks-table tr[data-kiosk-id]").first
    row.get_by_role("button", name="Keys of").click()
    expect(page.locator("#kiosk-keys tr[data-key-id]")).not_to_have_count(0)
    expect(page.locator("#view [data-action]")).to_have_count(0)
    expect(page.locator("#view form")).to_have_count(0)
    expect(page.locator("#view th", has_text="Actions")).to_have_count(0)
    assert serious_violations(page) == []


def test_the_audit_trail_shows_who_changed_what_and_filters(demo: Demo, page: Page) -> None:
    """After the tests above (a kiosk registered, a key issued and revoked, a manager created,
    edited and deleted, a viewer created), the admin reads them in the audit trail."""
    treez: dict[str, Any] = demo.store("treez")
    admin_email = demo.info["operator"]["email"]
    sign_in_as_admin(page, demo)
    page.get_by_role("link", name="Audit trail").click()
    expect(page.locator("#view h1")).to_have_text("Audit trail")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).not_to_have_count(0)
    actions = rows.evaluate_all("(rows) => rows.map((row) => row.dataset.action)")
    for action in ("kiosk.create", "kiosk_key.issue", "kiosk_key.revoke", "operator.create"):
        assert action in actions, actions
    expect(rows.first).to_contain_text(admin_email)
    assert serious_violations(page) == []

    # A family of actions.
    form = page.locator("#audit-filters")
    form.get_by_label("Action").fill("kiosk_key.")
    form.get_by_role("button", name="Show").click()
    expect(rows.first).to_have_attribute("data-action", re.compile(r"^kiosk_key\."))
    families = rows.evaluate_all("(rows) => rows.map((row) => row.dataset.action)")
    assert {action.split(".")[0] for action in families} == {"kiosk_key"}, families

    # One action, its changed fields before and after; the password never shown.
    form.get_by_label("Action").fill("operator.create")
    form.get_by_role("button", name="Show").click()
    created = page.locator("#audit-table tbody tr", has_text=MANAGER_EMAIL)
    expect(created).to_have_count(1)
    created.locator("summary").click()
    expect(created.locator("dl")).to_contain_text("store_manager")
    assert MANAGER_PASSWORD not in page.content()

    # One store: every event shown is that store's.
    form.get_by_label("Action").fill("")
    form.get_by_label("Store").select_option(label=treez["name"])
    form.get_by_role("button", name="Show").click()
    expect(rows.first.locator("td").nth(3)).to_have_text(treez["name"])
    stores = rows.evaluate_all("(rows) => rows.map((row) => row.cells[3].textContent)")
    assert set(stores) == {treez["name"]}, stores

    # The API refuses an action longer than 64 characters: its message beside the field.
    form.get_by_label("Action").fill("x" * 65)
    form.get_by_role("button", name="Show").click()
    expect(page.locator("#audit-action-error")).to_be_visible()
    expect(form.get_by_label("Action")).to_have_attribute("aria-invalid", "true")
    assert serious_violations(page) == []
