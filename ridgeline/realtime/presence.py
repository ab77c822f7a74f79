"""Live presence on the kiosk views operators read: connected to `/cable` now, and since when."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from ridgeline.api.schemas import Page
from ridgeline.realtime.hub import Hub
from ridgeline.stores.schemas import KioskOut

log = structlog.get_logger(__name__)


async def annotate_presence(hub: Hub, kiosks: list[KioskOut]) -> list[KioskOut]:
    """The same kiosks, marked connected when some server process holds a connection of theirs.
    Presence is a live view: if its store cannot be read, kiosks show as not connected."""
    since: dict[str, float] = {}
    for store_id in sorted({str(k.store_id) for k in kiosks}):
        try:
            entries = await hub.state.present(store_id)
        except Exception:
            log.exception("presence_read_failed", store_id=store_id)
            continue
        for entry in entries:
            earliest = since.get(entry.kiosk_id)
            since[entry.kiosk_id] = (
                min(earliest, entry.connected_at) if earliest else (entry.connected_at)
            )
    return [
        kiosk.model_copy(
            update={
                "connected": str(kiosk.id) in since,
                "connected_since": datetime.fromtimestamp(since[str(kiosk.id)], UTC)
                if str(kiosk.id) in since
                else None,
            }
        )
        for kiosk in kiosks
    ]


async def with_presence(hub: Hub, page: Page[KioskOut]) -> Page[KioskOut]:
    return page.model_copy(update={"data": await annotate_presence(hub, page.data)})
