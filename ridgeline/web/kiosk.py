"""The kiosk demo page (`/kiosk`): what a shopper sees on a kiosk, opened with a kiosk's key.
The key is read from the address's fragment (`/kiosk#key=...`, never sent to a server) and
kept for the tab; `static/kiosk.js` does the rest with the kiosk API and `/cable`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages"], include_in_schema=False)
