"""The kiosk page's shell (`/kiosk`): public, no data and no key in it, its scripts served."""

from __future__ import annotations

import re

import httpx

from ridgeline.db.engine import Database
from ridgeline.web.pages import SHELF
from tests.factories import make_tenant


async def test_the_kiosk_page_is_a_public_shell_without_keys(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    response = await client.get("/kiosk")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert "rk_live_" not in page
    assert tenant.kiosk_key not in page
    assert str(tenant.store.id) not in page
    # The key form: labelled, never remembered by the browser.
    assert 'id="key-form"' in page
    assert '<label for="kiosk-key">' in page
    assert 'autocomplete="off"' in page
    # Regions a screen reader follows, and landmarks.
    assert 'id="cart" aria-live="polite"' in page
    assert 'id="order-status" aria-live="polite"' in page
    assert 'role="search"' in page
    assert 'href="/kiosk" aria-current="page"' in page
    assert "style=" not in page
    assert "onclick" not in page.lower()
    again = await client.get("/kiosk", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    # A key in the query string is not how the page is opened, and changes nothing.
    assert (await client.get("/kiosk?key=anything")).text == page


async def test_the_kiosk_pages_assets_are_served(client: httpx.AsyncClient) -> None:
    page = (await client.get("/kiosk")).text
    script = re.search(r'<script type="module" src="(/assets/kiosk\.js\?v=\w+)"', page)
    assert script is not None
    response = await client.get(script.group(1))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "immutable" in response.headers["cache-control"]
    # Its relative imports (unversioned, revalidated) are on the shelf too.
    imports = set(re.findall(r'from "\./([\w-]+\.js)"', response.text))
    assert {"api.js", "cable.js", "forms.js", "kiosk-catalog.js"} <= imports
    for name in imports:
        assert name in SHELF.names
        found = await client.get(f"/assets/{name}")
        assert found.status_code == 200, name
        assert found.headers["cache-control"] == "no-cache"
    catalog = (await client.get("/assets/kiosk-catalog.js")).text
    assert 'from "./api.js"' in catalog
    stylesheet = re.search(r'href="(/assets/web\.css\?v=\w+)"', page)
    assert stylesheet is not None
    css = (await client.get(stylesheet.group(1))).text
    assert "/* kiosk page */" in css
