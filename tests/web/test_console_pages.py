"""The operator console's shell (`/dashboard`): the view modules it names, every asset it can
load, and no secret in the page."""

from __future__ import annotations

import html
import json
import re

import httpx

from ridgeline.web.console import VIEWS
from ridgeline.web.pages import SHELF


def modules_of(page: str) -> dict[str, str]:
    match = re.search(r'data-modules="([^"]*)"', page)
    assert match is not None
    found: dict[str, str] = json.loads(html.unescape(match.group(1)))
    return found


async def test_the_dashboard_names_each_view_module_whose_file_exists(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    modules = modules_of(response.text)
    # The fleet and alerts views ship with this release; the store view when its file does.
    for view in ("fleet", "alerts"):
        assert f"console-{view}.js" in SHELF.names
    for view in VIEWS:
        if f"console-{view}.js" in SHELF.names:
            assert modules[view] == SHELF.url(f"console-{view}.js")
            assert re.fullmatch(rf"/assets/console-{view}\.js\?v=\w{{12}}", modules[view])
        else:
            assert view not in modules
    assert set(modules) <= set(VIEWS)
    # Each URL once, in the data attribute only (the shell imports them on demand).
    for url in modules.values():
        assert response.text.count(url) == 1
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert "script-src 'self'" in response.headers["content-security-policy"]


async def test_every_asset_is_served_with_its_type(client: httpx.AsyncClient) -> None:
    assert {"console.js", "api.js", "cable.js", "forms.js", "web.css"} <= SHELF.names
    for name, url in SHELF.urls().items():
        versioned = await client.get(url)
        assert versioned.status_code == 200, name
        assert "immutable" in versioned.headers["cache-control"], name
        plain = await client.get(f"/assets/{name}")
        assert plain.status_code == 200, name
        assert plain.content == versioned.content
        if name.endswith(".js"):
            assert plain.headers["content-type"].startswith("text/javascript"), name
        elif name.endswith(".css"):
            assert plain.headers["content-type"].startswith("text/css"), name
    # The modules the dashboard names, and what they import relatively, are all on the shelf.
    page = (await client.get("/dashboard")).text
    for url in modules_of(page).values():
        source = (await client.get(url)).text
        for imported in re.findall(r'from "\./([\w.-]+)"', source):
            assert imported in SHELF.names, (url, imported)


async def test_the_dashboard_holds_no_secret(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard")
    page = response.text
    lowered = page.lower()
    for word in ("token", "api_key", "apikey", "secret", "private_key", "bearer"):
        assert word not in lowered, word
    # No JWT-looking value and no long opaque string outside the asset versions.
    assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}", page)
    without_versions = re.sub(r"\?v=\w+", "", page)
    assert not re.search(r"[A-Za-z0-9_\-]{32,}", without_versions)
    assert 'type="password"' in page
    assert 'autocomplete="current-password"' in page
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.headers
