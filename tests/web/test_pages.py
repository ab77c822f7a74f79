"""The front door and the shared assets of the people-facing pages."""

from __future__ import annotations

import html
import json
import re

import httpx


async def test_the_front_door_links_everything_a_newcomer_needs(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for link in ('href="/dashboard"', 'href="/kiosk"', 'href="/status"', 'href="/docs"'):
        assert link in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    again = await client.get("/", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_assets_are_served_from_a_fixed_list_with_long_caching(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/")).text
    stylesheet = re.search(r'href="(/assets/web\.css\?v=\w+)"', page)
    assert stylesheet is not None
    response = await client.get(stylesheet.group(1))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert "immutable" in response.headers["cache-control"]
    # Unversioned (a module's relative import): revalidated on every use.
    plain = await client.get("/assets/web.css")
    assert plain.headers["cache-control"] == "no-cache"
    assert (
        (await client.get("/assets/api.js")).headers["content-type"].startswith("text/javascript")
    )
    cached = await client.get(
        "/assets/web.css", headers={"If-None-Match": response.headers["etag"]}
    )
    assert cached.status_code == 304
    for name in ("nope.js", "..%2Fpages.py", "pages.py", "%2e%2e%2fapp.py"):
        missing = await client.get(f"/assets/{name}")
        assert missing.status_code == 404, name
        assert missing.json()["error"]["code"] in ("NOT_FOUND", "ROUTE_NOT_FOUND")


async def test_the_console_shell_holds_no_data_and_names_its_view_modules(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert 'id="sign-in"' in response.text
    assert 'autocomplete="current-password"' in response.text
    match = re.search(r'data-modules="([^"]*)"', response.text)
    assert match is not None
    modules = json.loads(html.unescape(match.group(1)))
    for url in modules.values():
        assert re.fullmatch(r"/assets/console-\w+\.js\?v=\w+", url)
        assert (await client.get(url)).status_code == 200
    assert (await client.get("/assets/console.js")).status_code == 200
