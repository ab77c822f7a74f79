"""The console's catalog view in a real browser against the real demo: the demo's org admin
finds a product, gets the API's error beside a bad image URL, saves the enrichment (the API
agrees), points an RFID tag at the product (a kiosk of the store finds it by the tag) and
removes it, and saves a field mapping; a viewer sees the same page with no form and no button
the API would refuse, and filters in the API's own vocabulary. axe-core finds nothing serious
on either."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from ridgeline.pos.canonical import Category, StrainType
from tests.browser.conftest import Demo, create_user, serious_violations, sign_in_to_console

VIEWER_EMAIL = "catalog-viewer@ridgeline.example"
VIEWER_PASSWORD = "catalog-viewer-browser-test"


@pytest.fixture(autouse=True)
def no_script_errors(demo: Demo, page: Page) -> Iterator[None]:
    """Every test here fails on an uncaught error in the page's scripts (asking for the demo
    first, so the demo is torn down after Playwright's event loop stopped)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield
    assert errors == []


@pytest.fixture(scope="module")
def api(demo: Demo) -> Iterator[httpx.Client]:
    operator = demo.info["operator"]
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        token = client.post(
            "/api/v1/auth/token",
            json={"email": operator["email"], "password": operator["password"]},
        )
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['data']['access_token']}"
        yield client


@pytest.fixture(scope="module")
def store(demo: Demo) -> dict[str, Any]:
    found: dict[str, Any] = demo.store("blaze")
    return found


def a_product(api: httpx.Client, store: dict[str, Any]) -> dict[str, Any]:
    listed = api.get(f"/api/v1/stores/{store['id']}/products", params={"limit": 200})
    assert listed.status_code == 200, listed.text
    # One kiosks see (the demo has inactive ones too), so a kiosk can find it by a tag.
    shown: list[dict[str, Any]] = [p for p in listed.json()["data"] if p["visible_to_kiosks"]]
    assert len(shown) > 1
    return shown[0]


def open_catalog(page: Page, demo: Demo, store: dict[str, Any], email: str, password: str) -> None:
    sign_in_to_console(page, demo, email, password)
    page.evaluate("(hash) => { window.location.hash = hash; }", f"#/stores/{store['id']}/catalog")
    expect(page.locator("#catalog-title")).to_have_text(f"Catalog of {store['name']}")
    expect(page.locator("#catalog-title")).to_be_focused()
    expect(page.locator("#view")).to_have_attribute("aria-busy", "false")
    back = page.get_by_role("link", name=store["name"])
    expect(back).to_have_attribute("href", f"#/stores/{store['id']}")
    expect(page.locator("#products tbody tr")).not_to_have_count(0)


def test_an_org_admin_enriches_a_product_tags_it_and_maps_fields(
    demo: Demo, page: Page, api: httpx.Client, store: dict[str, Any]
) -> None:
    operator = demo.info["operator"]
    product = a_product(api, store)
    base = f"/api/v1/stores/{store['id']}"
    open_catalog(page, demo, store, operator["email"], operator["password"])

    # Search, then open the product.
    filters = page.locator("#product-filters")
    filters.get_by_label("Name or brand").fill(product["name"])
    filters.get_by_role("button", name="Search").click()
    row = page.locator(f'#products tr[data-product-id="{product["id"]}"]')
    expect(row).to_be_visible()
    expect(page.locator("#product-count")).to_contain_text("shown")
    row.get_by_role("button", name=product["name"]).click()
    detail = page.locator("#product-detail")
    expect(detail.locator("#product-detail-title")).to_have_text(product["name"])
    expect(detail).to_contain_text(product["external_id"])

    # A bad image URL: the API's message beside the field, naming the image.
    form = page.locator("#enrichment-form")
    form.get_by_label("Images").fill("https://images.example/a.jpg\nnot-a-url")
    form.get_by_role("button", name="Save enrichment").click()
    expect(page.locator("#enrichment-images-error")).to_contain_text("Image 2")
    expect(page.locator("#enrichment-images-error")).to_contain_text("http(s) URL")
    expect(form.get_by_label("Images")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Images")).to_be_focused()

    form.get_by_label("Description").fill("Picked by the staff.")
    form.get_by_label("Images").fill("https://images.example/a.jpg")
    form.get_by_label("Tags").fill("staff pick, local")
    form.get_by_label("Featured").check()
    form.get_by_label("Sort order").fill("3")
    form.get_by_role("button", name="Save enrichment").click()
    form = page.locator("#enrichment-form")
    expect(form.get_by_role("status")).to_have_text("Enrichment saved.")
    expect(form.get_by_label("Tags")).to_have_value("staff pick, local")
    expect(row).to_contain_text("featured")
    saved = api.get(f"{base}/products/{product['id']}").json()["data"]["enrichment"]
    assert saved["description"] == "Picked by the staff."
    assert saved["images"] == ["https://images.example/a.jpg"]
    assert saved["tags"] == ["staff pick", "local"]
    assert saved["featured"] is True
    assert saved["sort_order"] == 3

    # Emptied fields are removed the API's way: no description, no images.
    form.get_by_label("Description").fill("")
    form.get_by_label("Images").fill("")
    form.get_by_role("button", name="Save enrichment").click()
    expect(page.locator("#enrichment-form").get_by_role("status")).to_have_text("Enrichment saved.")
    saved = api.get(f"{base}/products/{product['id']}").json()["data"]["enrichment"]
    assert saved["description"] is None
    assert saved["images"] == []
    assert saved["tags"] == ["staff pick", "local"]

    # An RFID tag: a malformed one is refused at the field, then one is pointed at the product
    # (chosen already: the open product) and a kiosk of the store finds the product by it.
    tag_form = page.locator("#rfid-form")
    expect(tag_form.get_by_label("Product")).to_have_value(product["id"])
    tag_form.get_by_label("Tag").fill("not a tag!")
    tag_form.get_by_role("button", name="Assign tag").click()
    expect(page.locator("#rfid-tag-error")).to_contain_text("letters, digits")
    tag = "E28011700000020F1D2C3B4A"
    tag_form.get_by_label("Tag").fill(tag)
    tag_form.get_by_role("button", name="Assign tag").click()
    expect(tag_form.get_by_role("status")).to_have_text(f"Tag {tag} points at {product['name']}.")
    tag_row = page.locator(f'#rfid-list tr[data-tag="{tag}"]')
    expect(tag_row).to_contain_text(product["name"])
    expect(detail).to_contain_text(tag)
    kiosk = next(k for k in demo.info["kiosks"] if k["store_id"] == store["id"])
    kiosk_headers = {"Authorization": f"Bearer {kiosk['api_key']}"}
    found = httpx.get(f"{demo.base_url}/api/v1/catalog/rfid/{tag}", headers=kiosk_headers)
    assert found.status_code == 200, found.text
    assert found.json()["data"]["id"] == product["id"]

    # The field mapping: a row without a target is refused here, then saved.
    mapping = page.locator("#field-mapping")
    mapping.get_by_role("button", name="Add a category override").click()
    category_row = mapping.locator('tr[data-mapping-row="category"]').last
    category_row.locator('[data-mapping="from"]').fill("Vapes & Carts")
    category_row.locator('[data-mapping="to"]').select_option("vape")
    mapping.get_by_role("button", name="Add a brand override").click()
    brand_row = mapping.locator('tr[data-mapping-row="brand"]').last
    brand_row.locator('[data-mapping="from"]').fill("Old Name")
    mapping.get_by_role("button", name="Save field mapping").click()
    expect(brand_row.locator(".field-error")).to_have_text("Say what Old Name becomes.")
    brand_row.locator('[data-mapping="to"]').fill("New Name")
    mapping.get_by_role("button", name="Save field mapping").click()
    expect(mapping.get_by_role("status")).to_contain_text("Field mapping saved.")
    state = api.get(f"{base}/sync-state").json()["data"]
    assert state["field_mapping"] == {
        "category": {"Vapes & Carts": "vape"},
        "brand": {"Old Name": "New Name"},
    }
    # The schedule: the API's limit beside the field, then saved.
    schedule = page.locator("#sync-schedule")
    interval = schedule.get_by_label("Catalog sync interval (s)")
    interval.fill("10")
    schedule.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#schedule-catalog-interval-s-error")).to_contain_text("15")
    interval.fill("1800")
    schedule.get_by_role("button", name="Save schedule").click()
    expect(schedule.get_by_role("status")).to_have_text("Sync schedule saved.")
    expect(page.locator("#sync-facts")).to_contain_text("1800 s")
    assert api.get(f"{base}/sync-state").json()["data"]["catalog_interval_s"] == 1800

    assert serious_violations(page) == []

    # The tag removed (the second click confirms): kiosks no longer find it.
    tag_row.get_by_role("button", name=f"Remove tag {tag}").click()
    tag_row.get_by_role("button", name=f"Confirm remove tag {tag}").click()
    expect(page.locator('[data-result="rfid"]')).to_have_text(f"Tag {tag} removed.")
    expect(tag_row).to_have_count(0)
    gone = httpx.get(f"{demo.base_url}/api/v1/catalog/rfid/{tag}", headers=kiosk_headers)
    assert gone.status_code == 404, gone.text


def test_a_viewer_sees_the_catalog_and_no_form_or_button_the_api_would_refuse(
    demo: Demo, page: Page, api: httpx.Client, store: dict[str, Any]
) -> None:
    product = a_product(api, store)
    tag = "VIEWER-SEES-THIS-TAG"
    assigned = api.put(
        f"/api/v1/stores/{store['id']}/rfid-tags/{tag}", json={"product_id": product["id"]}
    )
    assert assigned.status_code in (200, 201), assigned.text
    viewer = create_user(
        demo,
        VIEWER_EMAIL,
        VIEWER_PASSWORD,
        "viewer",
        organization_id=demo.info["organization"]["id"],
    )
    open_catalog(page, demo, store, viewer["email"], viewer["password"])
    expect(page.locator(f'#rfid-list tr[data-tag="{tag}"]')).to_contain_text(product["name"])
    page.locator(f'#products tr[data-product-id="{product["id"]}"]').get_by_role(
        "button", name=product["name"]
    ).click()
    expect(page.locator("#product-detail-title")).to_have_text(product["name"])
    expect(page.locator("#product-detail")).to_contain_text(tag)
    expect(page.locator("#sync-facts")).to_contain_text("Failed syncs in a row")
    for absent in ("#enrichment-form", "#rfid-form", "#sync-schedule", "#field-mapping"):
        expect(page.locator(absent)).to_have_count(0)
    expect(page.locator("#view [data-action]")).to_have_count(0)
    expect(page.locator("#view button.danger")).to_have_count(0)
    expect(page.locator("#catalog-rfid")).to_contain_text("Store managers edit")
    # The filters offer the API's own vocabulary (the view keeps a copy of it).
    categories = page.locator("#product-category option").evaluate_all("os => os.map(o => o.value)")
    assert categories == ["", *(c.value for c in Category)]
    strains = page.locator("#product-strain option").evaluate_all("os => os.map(o => o.value)")
    assert strains == ["", *(s.value for s in StrainType)]
    assert serious_violations(page) == []
