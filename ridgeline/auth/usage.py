"""Kiosk key `last_used_at`, recorded in memory and written in batches.

Kiosk reads are the hot path; a write per request would serialise them on SQLite's single
writer. Keys seen since the last flush are written together every few seconds (and at shutdown),
so at most one flush interval of usage times is lost in a crash.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, update

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
        keys = [{"b_key": key_id, "b_at": at} for key_id, (_, at) in seen.items()]
        kiosks = [{"b_kiosk": kiosk_id, "b_at": at} for kiosk_id, at in seen.values()]
        async with database.transaction() as session:
            # One statement per table run for all rows at once (executemany): a statement per
            # key held SQLite's write lock for seconds after thousands of kiosks connected.
            connection = await session.connection()
            await connection.execute(
                update(KioskApiKey)
                .where(KioskApiKey.id == bindparam("b_key"))
                .values(last_used_at=bindparam("b_at")),
                keys,
            )
            await connection.execute(
                update(Kiosk)
                .where(Kiosk.id == bindparam("b_kiosk"))
                .where((Kiosk.last_seen_at.is_(None)) | (Kiosk.last_seen_at < bindparam("b_at")))
                # Being seen is not an edit: keep updated_at (it would bump on its own).
                .values(last_seen_at=bindparam("b_at"), updated_at=Kiosk.updated_at),
                kiosks,
            )
        return len(seen)
