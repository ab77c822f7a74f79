"""What kiosks' connections tell the database: last seen, app version, health, and presence
events on the organization's ops stream (`kiosk.presence`).

Connect storms are the norm (a store's kiosks all reconnect after a network blip, a server
restart moves thousands), so nothing is written per connection: activity is collected in memory
and flushed every few seconds in one transaction per flush.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.realtime import repository
from ridgeline.realtime.streams import append_many, ops_stream

log = structlog.get_logger(__name__)

# Kiosks (and presence events) written per transaction by a flush.
FLUSH_CHUNK = 500


@dataclass
class _Seen:
    at: datetime
    app_version: str | None = None
    health: dict[str, Any] | None = None


@dataclass
class KioskActivity:
    clock: Clock
    _seen: dict[uuid.UUID, _Seen] = field(default_factory=dict)
    _presence: list[tuple[uuid.UUID, dict[str, Any]]] = field(default_factory=list)

    def seen(
        self,
        kiosk_id: uuid.UUID,
        *,
        app_version: str | None = None,
        health: dict[str, Any] | None = None,
    ) -> None:
        previous = self._seen.get(kiosk_id)
        self._seen[kiosk_id] = _Seen(
            self.clock.now(),
            app_version or (previous.app_version if previous else None),
            health if health is not None else (previous.health if previous else None),
        )

    def presence(
        self,
        *,
        organization_id: uuid.UUID,
        store_id: uuid.UUID,
        kiosk_id: uuid.UUID,
        connected: bool,
        connection_id: str,
        reason: str | None = None,
    ) -> None:
        self._presence.append(
            (
                organization_id,
                {
                    "kiosk_id": str(kiosk_id),
                    "store_id": str(store_id),
                    "connected": connected,
                    "connection_id": connection_id,
                    "reason": reason,
                },
            )
        )

    async def flush(self, database: Database) -> None:
        """Writes what was collected, `FLUSH_CHUNK` kiosks and presence events a transaction: a
        reconnect storm collects 10,000 of each, and one transaction for them all builds every
        row on the event loop at once. What a failed chunk leaves is kept for the next flush
        (newer sightings win)."""
        seen, self._seen = self._seen, {}
        presence, self._presence = self._presence, []
        if not seen and not presence:
            return
        sightings = list(seen.items())
        done_seen = done_presence = 0
        try:
            while done_seen < len(sightings) or done_presence < len(presence):
                chunk = sightings[done_seen : done_seen + FLUSH_CHUNK]
                events = presence[done_presence : done_presence + FLUSH_CHUNK]
                changes: dict[uuid.UUID, dict[str, Any]] = {}
                for kiosk_id, item in chunk:
                    values: dict[str, Any] = {"last_seen_at": item.at}
                    if item.app_version is not None:
                        values["app_version"] = item.app_version
                    if item.health is not None:
                        values["health"] = item.health
                    changes[kiosk_id] = values
                async with database.transaction() as session:
                    if changes:
                        await repository.record_kiosks_seen(session, changes)
                    by_org: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
                    for organization_id, data in events:
                        by_org[organization_id].append(("kiosk.presence", data))
                    for organization_id, batch in by_org.items():
                        await append_many(
                            session, ops_stream(organization_id), batch, at=self.clock.now()
                        )
                done_seen += len(chunk)
                done_presence += len(events)
        except Exception:
            log.exception("kiosk_activity_flush_failed", kiosks=len(sightings) - done_seen)
            # Keep what was not written for the next flush (newer sightings win).
            for kiosk_id, item in sightings[done_seen:]:
                self._seen.setdefault(kiosk_id, item)
            self._presence[:0] = presence[done_presence:]
