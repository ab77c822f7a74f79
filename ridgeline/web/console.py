"""The operator console (`/dashboard`): one HTML shell; `static/console.js` signs in with
operator credentials and renders the fleet, a store and the alerts from the JSON API, live over
`/cable`. The page itself holds no data, so it is public; every datum needs a token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ridgeline.auth.dependencies import PUBLIC
from ridgeline.web.pages import SHELF, html

router = APIRouter(tags=["pages"], include_in_schema=False)

# The view modules console.js loads, by name, with their versioned URLs.
VIEWS = (
    "fleet",
    "store",
    "catalog",
    "kiosks",
    "alerts",
    "rules",
    "operators",
    "audit",
    "statuspage",
    "system",
)


@router.get("/dashboard", openapi_extra=PUBLIC)
async def console_page(request: Request) -> Response:
    """The console's shell: a sign-in form, then the views."""
    modules = {
        view: SHELF.url(f"console-{view}.js")
        for view in VIEWS
        if f"console-{view}.js" in SHELF.names
    }
    return html(request, "console.html", section="console", modules=modules)
