"""Kiosk key `last_used_at` (and its kiosk's `last_seen_at`), recorded in memory and written in
batches.

Kiosk reads are the hot path; a write per request would serialise them on SQLite's single
writer. Keys seen since the last flush are written together every few seconds (and at shutdown),
so at most one flush interval of usage times is lost in a crash.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ridgeline.auth import repository
from ridgeline.db.engine import Database

# Keys written per transaction by a flush.
FLUSH_CHUNK = 500


class KioskKeyUsage:
    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, tuple[uuid.UUID | None, datetime]] = {}

    def record(self, key_id: uuid.UUID, kiosk_id: uuid.UUID | None, at: datetime) -> None:
        """The key was used at `at` by its kiosk; `kiosk_id` None: by someone acting as the
        kiosk (a diagnostic key), which is not the kiosk being seen."""
        self._seen[key_id] = (kiosk_id, at)

    @property
    def pending(self) -> int:
        return len(self._seen)

    async def flush(self, database: Database) -> int:
        """Writes the keys seen, `FLUSH_CHUNK` a transaction (a reconnect storm brings
        thousands: one transaction for all builds every row on the event loop at once). A
        failed chunk's keys and the rest are kept for the next flush; the error is raised."""
        if not self._seen:
            return 0
        seen, self._seen = self._seen, {}
        items = list(seen.items())
        done = 0
        try:
            while done < len(items):
                chunk = dict(items[done : done + FLUSH_CHUNK])
                async with database.transaction() as session:
                    await repository.record_key_usage(session, chunk)
                done += len(chunk)
        except BaseException:
            for key_id, use in items[done:]:
                self._seen.setdefault(key_id, use)  # a newer use recorded meanwhile wins
            raise
        return done
