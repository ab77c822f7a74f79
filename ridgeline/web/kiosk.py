"""The kiosk demo page (`/kiosk`): what a shopper sees on a kiosk, opened with a kiosk's key.
The key is read from the address's fragment (`/kiosk#key=...`, never sent to a server) and
kept for the tab; `static/kiosk.js` does the rest with the kiosk API and `/cable`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ridgeline.auth.dependencies import PUBLIC
from ridgeline.web.pages import html

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/kiosk", openapi_extra=PUBLIC)
async def kiosk_page(request: Request) -> Response:
    """The shopper's page: an HTML shell with no data and no key; the script asks for the key
    (from the fragment, or a form) and reads everything else from the kiosk API."""
    return html(request, "kiosk.html", section="kiosk")
