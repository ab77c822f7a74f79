"""The front door and what every page of this package shares: the template environment, the
asset shelf and an HTML answer with its ETag."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from fastapi import APIRouter, Request, Response

from ridgeline import __version__
from ridgeline.auth.dependencies import PUBLIC
from ridgeline.errors import NotFound
from ridgeline.status.caching import etag_of
from ridgeline.web import assets

router = APIRouter(tags=["pages"], include_in_schema=False)
HTML = "text/html; charset=utf-8"

SHELF = assets.AssetShelf("ridgeline.web", "static", "/assets")

# Pages carry no data of their own (the scripts fetch it), so a short cache is right; `no-cache`
# would be too: the ETag makes the revalidation cheap either way.
PAGE_CACHE = "no-cache"


@cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ridgeline.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(asset_url=SHELF.url, version=__version__)
    return env


def html(request: Request, template: str, **context: Any) -> Response:
    """`template` rendered, with an ETag (304 when the caller has it) and headers that keep
    the page from being framed or leaking its address."""
    content = templates().get_template(template).render(**context).encode()
    etag = etag_of(content)
    headers = {
        "ETag": etag,
        "Cache-Control": PAGE_CACHE,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        # Scripts and styles come from this server only; the API and /cable are same-origin.
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'"
        ),
    }
    if request.headers.get("if-none-match", "").strip() == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=HTML, headers=headers)


@router.get("/", openapi_extra=PUBLIC)
async def front_door(request: Request) -> Response:
    """What this server offers people: the console, the kiosk demo, the status page, the API."""
    return html(request, "home.html")


@router.get("/assets/{name}", openapi_extra=PUBLIC)
async def asset(name: str, request: Request) -> Response:
    """A stylesheet, script or icon of these pages (a fixed list)."""
    found = SHELF.get(name)
    if found is None:
        raise NotFound("asset", name)
    return assets.serve(request, found)
