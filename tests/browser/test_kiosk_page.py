"""The kiosk page in a real browser against the real demo: a shopper opens `/kiosk#key=...`
(the key leaves the address bar), browses the Treez store's menu, sees a price changed at the
POS (the simulator's control API; the simulated Treez pushes it to the demo's webhook) without a
reload, orders and follows the order to `accepted`; RFID lift, operator commands, the store's
banner, accessibility (axe-core), where the key goes (nowhere but sessionStorage and the
`Authorization` header) and a screenshot. With its /cable cut: orders refused for a changed price
or stock, and what changed meanwhile caught up once it reconnects."""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, WebSocket, WebSocketRoute, expect

from tests.browser.conftest import Demo, serious_violations

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "kiosk-page.png"
LIVE_TIMEOUT_MS = 60_000
RFID_TAG = "E200-KIOSK-0001"


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@pytest.fixture(scope="module")
def api(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def operator(demo: Demo, api: httpx.Client) -> dict[str, str]:
    """The demo's org admin's `Authorization` header."""
    who = demo.info["operator"]
    response = api.post(
        "/api/v1/auth/token", json={"email": who["email"], "password": who["password"]}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


@pytest.fixture(scope="module")
def store(demo: Demo) -> dict[str, Any]:
    """The Treez store: the simulated Treez pushes product changes to the demo's webhook."""
    found = demo.store("treez")
    assert found.get("webhooks") == "registered", found
    return found


@pytest.fixture(scope="module")
def kiosk(demo: Demo, store: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(k for k in demo.info["kiosks"] if k["store_id"] == store["id"])
    assert found["api_key"].startswith("rk_live_")
    return found


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    """A kiosk-sized tab (portrait 1080 x 1920) that records every request and socket URL."""
    context = browser.new_context(
        viewport={"width": 1080, "height": 1920}, timezone_id="America/Denver", locale="en-US"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    urls: list[str] = []
    sent_headers: list[tuple[str, str, dict[str, str]]] = []

    def on_request(request: Request) -> None:
        urls.append(request.url)
        sent_headers.append((request.method, request.url, request.headers))

    def on_socket(socket: WebSocket) -> None:
        urls.append(socket.url)

    page.on("request", on_request)
    page.on("websocket", on_socket)
    page.recorded_urls = urls  # type: ignore[attr-defined]
    page.recorded_requests = sent_headers  # type: ignore[attr-defined]
    yield page
    context.close()


def open_kiosk(demo: Demo, page: Page, key: str) -> None:
    page.goto(f"{demo.base_url}/kiosk#key={key}")
    expect(page.locator("#shop")).to_be_visible()
    expect(page.locator("#kiosk-live")).to_have_text("Live updates: on", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#products li")).not_to_have_count(0)


def a_single_size_product(api: httpx.Client, key: str) -> dict[str, Any]:
    response = api.get("/api/v1/catalog?limit=200", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    products = response.json()["data"]
    return next(
        p
        for p in products
        if len(p["variants"]) == 1
        and p["variants"][0]["quantity_available"] >= 2
        and not p["is_medical_only"]
    )


def single_size_products(api: httpx.Client, key: str) -> list[dict[str, Any]]:
    response = api.get("/api/v1/catalog?limit=200", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return [
        p
        for p in response.json()["data"]
        if len(p["variants"]) == 1
        and p["variants"][0]["quantity_available"] >= 2
        and not p["is_medical_only"]
    ]


def all_keys(demo: Demo) -> list[str]:
    return [k["api_key"] for k in demo.info["kiosks"]]


class CableCut:
    """Stands between the page and `/cable` (Playwright's WebSocket routing): frames pass both
    ways until `cut()`, which closes the page's socket and the server's and refuses every new
    one until `restore()`; the page meanwhile hears nothing from the server."""

    def __init__(self, page: Page) -> None:
        self.cut_off = False
        self.open: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        page.route_web_socket(re.compile(r"/cable$"), self._route)

    def _route(self, socket: WebSocketRoute) -> None:
        if self.cut_off:
            socket.close(code=4000, reason="cut by the test")
            return
        self.open.append((socket, socket.connect_to_server()))

    def cut(self) -> None:
        self.cut_off = True
        for page_side, server_side in self.open:
            server_side.close(code=4000, reason="cut by the test")
            page_side.close(code=4000, reason="cut by the test")
        self.open.clear()

    def restore(self) -> None:
        self.cut_off = False


def product_until(
    page: Page, api: httpx.Client, key: str, product_id: str, done: Callable[[Any], bool]
) -> None:
    """Waits until the kiosk API serves the product as `done` wants it (the POS's change has
    reached the catalog), letting the page's reconnection attempts be answered meanwhile."""
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while True:
        found = api.get(
            f"/api/v1/catalog/products/{product_id}", headers={"Authorization": f"Bearer {key}"}
        )
        assert found.status_code == 200, found.text
        if done(found.json()["data"]):
            return
        assert time.monotonic() < deadline, f"the change never reached {product_id}"
        page.wait_for_timeout(200)


def test_a_shopper_sees_a_pos_price_change_live_orders_and_follows_it_to_accepted(
    demo: Demo, tab: Page, api: httpx.Client, store: dict[str, Any], kiosk: dict[str, Any]
) -> None:
    page = tab
    open_kiosk(demo, page, kiosk["api_key"])
    # The key left the address bar at once and is kept for this tab only.
    assert page.url == f"{demo.base_url}/kiosk"
    assert page.evaluate("Object.keys(sessionStorage)") == ["ridgeline.kiosk"]
    assert page.evaluate("localStorage.length") == 0
    expect(page.locator("#kiosk-name")).to_have_text("Kiosk: Lobby Kiosk")
    expect(page.locator("#store-banner")).to_be_hidden()

    # Browse: a category, a search, a product's detail.
    product = a_single_size_product(api, kiosk["api_key"])
    variant = product["variants"][0]
    page.locator(f'#categories button[data-category="{product["category"]}"]').click()
    expect(
        page.locator(f'#categories button[data-category="{product["category"]}"]')
    ).to_have_attribute("aria-pressed", "true")
    for item in page.locator("#products li").all():
        assert item.get_attribute("data-product-id")
    page.locator("#search").fill(product["name"])
    page.locator("#search-form button").click()
    card = page.locator(f'#products li[data-product-id="{product["id"]}"]')
    expect(card).to_be_visible()
    expect(card.locator('[data-role="price"]')).to_have_text(money(variant["price_cents"]))
    card.locator("button").click()
    expect(page.locator("#detail")).to_be_focused()
    expect(page.locator("#detail-title")).to_have_text(product["name"])

    # A price change at the POS reaches the open page without a reload.
    page.evaluate("window.__notReloaded = true")
    new_price = variant["price_cents"] + 1234
    control = f"{demo.info['simulator']['control_url']}/{store['simulator_store_id']}"
    changed = httpx.patch(
        f"{control}/products/{product['external_id']}",
        json={"price_cents": new_price},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    began = time.monotonic()
    try:
        expect(card.locator('[data-role="price"]')).to_have_text(
            money(new_price), timeout=LIVE_TIMEOUT_MS
        )
    except AssertionError:
        pytest.fail("the price change did not arrive:\n" + demo.log_tail())
    log.info("price change shown %.1f s after the POS changed it", time.monotonic() - began)
    detail_variant = page.locator(f'#detail-body li[data-variant-id="{variant["id"]}"]')
    expect(detail_variant.locator('[data-role="price"]')).to_have_text(money(new_price))
    assert page.evaluate("window.__notReloaded") is True

    # Cart: add two, see the subtotal, take one out again, then order.
    add = detail_variant.locator("button")
    add.click()
    add.click()
    expect(page.locator("#cart-subtotal")).to_contain_text(money(2 * new_price))
    expect(page.locator("#cart-subtotal")).to_contain_text("2 items")
    # The demo store has no profile and no taxes: the total the server computes is the subtotal.
    expect(page.locator("#cart-total")).to_have_text(
        f"Taxes: {money(0)} · Total: {money(2 * new_price)}"
    )
    page.get_by_role("button", name=re.compile(r"^One less ")).click()
    expect(page.locator("#cart-subtotal")).to_contain_text(money(new_price))
    expect(page.locator("#cart-total")).to_have_text(
        f"Taxes: {money(0)} · Total: {money(new_price)}"
    )
    page.locator("#customer-name").fill("Ana")
    page.locator("#place-order").click()
    order = page.locator("#order")
    expect(order).to_be_visible()
    expect(page.locator("#order-status")).to_contain_text("RL-")
    try:
        expect(order).to_have_attribute(
            "data-status", re.compile(r"^(accepted|ready|completed)$"), timeout=LIVE_TIMEOUT_MS
        )
    except AssertionError:
        pytest.fail("the order did not reach accepted:\n" + demo.log_tail())
    expect(order.locator('[data-role="order-status"]')).to_have_text(
        re.compile(r"Accepted|Ready|Completed")
    )
    expect(page.locator("#cart-empty")).to_be_visible()
    # The POS has it, at the new price, with our reference.
    reference = re.search(r"RL-\w+", page.locator("#order-status").inner_text())
    assert reference is not None
    pos_orders = httpx.get(
        f"{control}/orders", params={"reference": reference.group(0)}, timeout=10
    )
    assert pos_orders.status_code == 200, pos_orders.text
    assert len(pos_orders.json()["orders"]) == 1

    # One order request, with an Idempotency-Key; the key never in a URL.
    posts = [
        headers
        for method, url, headers in page.recorded_requests  # type: ignore[attr-defined]
        if method == "POST" and url.endswith("/api/v1/orders")
    ]
    assert len(posts) == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", posts[0]["idempotency-key"])
    for url in page.recorded_urls:  # type: ignore[attr-defined]
        for key in all_keys(demo):
            assert key not in url, url
    html = page.content()
    for key in all_keys(demo):
        assert key not in html


def test_rfid_lift_operator_commands_and_the_store_banner(
    demo: Demo,
    tab: Page,
    api: httpx.Client,
    operator: dict[str, str],
    store: dict[str, Any],
    kiosk: dict[str, Any],
) -> None:
    page = tab
    product = a_single_size_product(api, kiosk["api_key"])
    tagged = api.put(
        f"/api/v1/stores/{store['id']}/rfid-tags/{RFID_TAG}",
        json={"product_id": product["id"]},
        headers=operator,
    )
    assert tagged.status_code in (200, 201), tagged.text
    open_kiosk(demo, page, kiosk["api_key"])

    page.locator("#rfid-tag").fill("NO-SUCH-TAG")
    page.locator("#rfid-form button").click()
    expect(page.locator("#rfid-form [data-form-error]")).to_contain_text("NO-SUCH-TAG")
    page.locator("#rfid-tag").fill(RFID_TAG)
    page.locator("#rfid-tag").press("Enter")
    expect(page.locator("#detail-title")).to_have_text(product["name"])
    expect(page.locator("#detail")).to_be_focused()

    # An operator's message shows on the kiosk.
    sent = api.post(
        f"/api/v1/kiosks/{kiosk['id']}/commands",
        json={"type": "show_message", "message": "Free samples at the counter", "duration_s": 60},
        headers=operator,
    )
    assert sent.status_code in (200, 201, 202), sent.text
    expect(page.locator("#kiosk-message-text")).to_have_text("Free samples at the counter")
    page.locator("#kiosk-message-close").click()
    expect(page.locator("#kiosk-message")).to_be_hidden()

    # Paused by an operator: the banner says so and ordering stops; resumed: both go.
    paused = api.post(
        f"/api/v1/stores/{store['id']}/pause", json={"reason": "stocktaking"}, headers=operator
    )
    assert paused.status_code == 200, paused.text
    try:
        banner = page.locator("#store-banner")
        expect(banner).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(banner).to_contain_text("Ordering is paused")
        expect(banner).to_have_attribute("data-ordering", "paused")
        page.locator(
            f'#detail-body li[data-variant-id="{product["variants"][0]["id"]}"] button'
        ).click()
        expect(page.locator("#place-order")).to_be_disabled()
    finally:
        resumed = api.post(f"/api/v1/stores/{store['id']}/resume", headers=operator)
        assert resumed.status_code == 200, resumed.text
    expect(page.locator("#store-banner")).to_be_hidden(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#place-order")).to_be_enabled()


def test_without_a_key_the_page_asks_for_one(demo: Demo, tab: Page, kiosk: dict[str, Any]) -> None:
    page = tab
    page.goto(f"{demo.base_url}/kiosk")
    expect(page.locator("#key-view")).to_be_visible()
    expect(page.locator("#shop")).to_be_hidden()
    expect(page.get_by_label("Kiosk API key")).to_have_attribute("autocomplete", "off")
    assert serious_violations(page) == []
    page.get_by_label("Kiosk API key").fill("rk_live_not-a-real-key")
    page.get_by_role("button", name="Open the kiosk").click()
    expect(page.locator("#key-form [data-form-error]")).to_contain_text("not accepted")
    assert page.evaluate("sessionStorage.length") == 0
    page.get_by_label("Kiosk API key").fill(kiosk["api_key"])
    page.get_by_label("Kiosk API key").press("Enter")
    expect(page.locator("#shop")).to_be_visible()
    expect(page.get_by_label("Kiosk API key")).to_have_value("")
    assert page.evaluate("Object.keys(sessionStorage)") == ["ridgeline.kiosk"]
    # A reload keeps the kiosk open (this tab's storage); forgetting it closes it.
    page.reload()
    expect(page.locator("#shop")).to_be_visible()
    page.get_by_role("button", name="Forget this kiosk").click()
    expect(page.locator("#key-view")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_axe_storage_and_a_screenshot(
    demo: Demo,
    tab: Page,
    api: httpx.Client,
    operator: dict[str, str],
    kiosk: dict[str, Any],
    tmp_path: Path,
) -> None:
    page = tab
    open_kiosk(demo, page, kiosk["api_key"])
    # Keyboard: the skip link first, then the main content; a product opens with Enter, and
    # its "Add to cart" with the space bar.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    product = a_single_size_product(api, kiosk["api_key"])
    page.locator(f'#products li[data-product-id="{product["id"]}"] button').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail")).to_be_focused()
    page.locator(
        f'#detail-body li[data-variant-id="{product["variants"][0]["id"]}"] button'
    ).focus()
    page.keyboard.press("Space")
    expect(page.locator("#cart-lines li")).to_have_count(1)
    expect(page.locator("#cart-note")).to_contain_text("Added")
    assert serious_violations(page) == []
    # Only this tab's kiosk key, in sessionStorage; no other kiosk's key or token anywhere.
    storage = page.evaluate(
        "({session: Object.fromEntries(Object.entries(sessionStorage)),"
        " local: Object.fromEntries(Object.entries(localStorage))})"
    )
    assert storage == {"session": {"ridgeline.kiosk": kiosk["api_key"]}, "local": {}}
    html = page.content()
    for key in all_keys(demo):
        assert key not in html
    token = operator["Authorization"].removeprefix("Bearer ")
    for text in (html, str(storage)):
        assert token not in text
        assert "access_token" not in text
    shots = {"kiosk": (1080, 1920), "phone": (390, 844)}
    for name, (width, height) in shots.items():
        page.set_viewport_size({"width": width, "height": height})
        expect(page.locator("#products li").first).to_be_visible()
        page.evaluate("window.scrollTo(0, 0)")
        path = tmp_path / f"kiosk-{name}.png"
        page.screenshot(path=str(path), full_page=name == "phone")
        assert path.stat().st_size > 10_000
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (name, scroll_width)
    if os.environ.get("RIDGELINE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "kiosk-kiosk.png", SCREENSHOT)


def test_with_its_cable_cut_orders_are_refused_for_a_new_price_and_stock_then_it_catches_up(
    demo: Demo, tab: Page, api: httpx.Client, store: dict[str, Any], kiosk: dict[str, Any]
) -> None:
    """No live update can arrive while /cable is cut: the POS changes two prices and then a
    stock, the kiosk API has them, the open page does not. An order is refused for the price
    (the cart takes the new one), then for the stock (the line is marked out of stock); once
    /cable is back, the catch-up (GET /catalog/changes) shows the other price without a reload."""
    page = tab
    cable = CableCut(page)
    key = kiosk["api_key"]
    watched, ordered = single_size_products(api, key)[-2:]  # not the products the others use
    watched_price = watched["variants"][0]["price_cents"]
    variant = ordered["variants"][0]
    control = f"{demo.info['simulator']['control_url']}/{store['simulator_store_id']}"

    def at_the_pos(product: dict[str, Any], change: dict[str, int]) -> None:
        changed = httpx.patch(
            f"{control}/products/{product['external_id']}", json=change, timeout=10
        )
        assert changed.status_code == 200, changed.text

    open_kiosk(demo, page, key)
    page.evaluate("window.__notReloaded = true")
    watched_price_shown = page.locator(
        f'#products li[data-product-id="{watched["id"]}"] [data-role="price"]'
    )
    expect(watched_price_shown).to_have_text(money(watched_price))
    page.locator(f'#products li[data-product-id="{ordered["id"]}"] button').click()
    page.locator(f'#detail-body li[data-variant-id="{variant["id"]}"] button').click()
    line = page.locator(f'#cart-lines li[data-variant-id="{variant["id"]}"]')
    expect(line.locator('[data-role="price"]')).to_have_text(
        f"1 \u00d7 {money(variant['price_cents'])}"
    )

    cable.cut()
    expect(page.locator("#kiosk-live")).to_have_text(re.compile(r"reconnecting|connecting"))
    new_watched_price = watched_price + 321
    new_price = variant["price_cents"] + 777
    at_the_pos(watched, {"price_cents": new_watched_price})
    at_the_pos(ordered, {"price_cents": new_price})
    product_until(
        page,
        api,
        key,
        watched["id"],
        lambda p: p["variants"][0]["price_cents"] == new_watched_price,
    )
    product_until(
        page, api, key, ordered["id"], lambda p: p["variants"][0]["price_cents"] == new_price
    )
    expect(watched_price_shown).to_have_text(money(watched_price))  # nothing came live

    # The order asks for the old price: refused; the cart takes the new one.
    page.locator("#place-order").click()
    refusal = page.locator("#order-form [data-form-error]")
    expect(refusal).to_have_text(
        f"Prices changed: {ordered['name']} is now {money(new_price)}."
        " Check the cart and place the order again."
    )
    expect(line.locator('[data-role="price"]')).to_have_text(f"1 \u00d7 {money(new_price)}")
    expect(page.locator("#cart-subtotal")).to_contain_text(money(new_price))
    expect(page.locator("#order")).to_be_hidden()
    # The menu agrees with the cart: the refused product was read again.
    detail_price = page.locator(
        f'#detail-body li[data-variant-id="{variant["id"]}"] [data-role="price"]'
    )
    expect(detail_price).to_have_text(money(new_price))

    # Sold out at the POS meanwhile: the next try is refused for the stock.
    at_the_pos(ordered, {"quantity": 0})
    product_until(
        page, api, key, ordered["id"], lambda p: p["variants"][0]["quantity_available"] == 0
    )
    page.locator("#place-order").click()
    expect(refusal).to_have_text(
        f"{ordered['name']} ({variant['label']}) is out of stock. Remove it and try again."
    )
    expect(line).to_have_attribute("data-stock", "out")
    expect(line.locator('[data-role="stock"]')).to_have_text("Out of stock")
    expect(
        page.locator(f'#detail-body li[data-variant-id="{variant["id"]}"] button')
    ).to_be_disabled()
    expect(page.locator("#order")).to_be_hidden()
    expect(watched_price_shown).to_have_text(money(watched_price))

    # /cable back: the catch-up brings the price changed while it was cut, without a reload.
    with page.expect_response(
        lambda response: "/api/v1/catalog/changes" in response.url, timeout=LIVE_TIMEOUT_MS
    ) as caught_up:
        cable.restore()
    expect(page.locator("#kiosk-live")).to_have_text("Live updates: on")
    expect(watched_price_shown).to_have_text(money(new_watched_price))
    assert page.evaluate("window.__notReloaded") is True
    changes = caught_up.value.json()["data"]
    assert any(
        change["data"].get("id") == watched["id"]
        and change["data"]["variants"][0]["price_cents"] == new_watched_price
        for change in changes
    ), changes
    page.get_by_role("button", name=f"Remove {ordered['name']} ({variant['label']})").click()
    expect(page.locator("#cart-empty")).to_be_visible()
