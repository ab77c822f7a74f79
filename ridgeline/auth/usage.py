"""Kiosk key `last_used_at`, recorded in memory and written in batches.

Kiosk reads are the hot path; a write per request would serialise them on SQLite's single
writer. Keys seen since the last flush are written together every few seconds (and at shutdown),
so at most one flush interval of usage times is lost in a crash.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update

from ridgeline.db.engine import Database
from ridgeline.models.kiosk import Kiosk, KioskApiKey


class KioskKeyUsage:
    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = {}

    def record(self, key_id: uuid.UUID, kiosk_id: uuid.UUID, at: datetime) -> None:
        self._seen[key_id] = (kiosk_id, at)

    @property
    def pending(self) -> int:
        return len(self._seen)

    async def flush(self, database: Database) -> int:
        if not self._seen:
            return 0
        seen, self._seen = self._seen, {}
        async with database.transaction() as session:
            for key_id, (kiosk_id, at) in seen.items():
                await session.execute(
                    update(KioskApiKey).where(KioskApiKey.id == key_id).values(last_used_at=at)
                )
                await session.execute(
                    update(Kiosk)
                    .where(Kiosk.id == kiosk_id)
                    .where((Kiosk.last_seen_at.is_(None)) | (Kiosk.last_seen_at < at))
                    # Being seen is not an edit: keep updated_at (it would bump on its own).
                    .values(last_seen_at=at, updated_at=Kiosk.updated_at)
                )
        return len(seen)
