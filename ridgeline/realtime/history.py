"""What a server's hub reads from the stream store: a feed's next committed messages, the
messages a subscription missed, and the positions a history request starts from. Every read is
its own short read-only transaction, so a slow client never holds one open."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.realtime.protocol import HistoryRequest
from ridgeline.realtime.streams import (
    HistoryUnavailable,
    StreamEntry,
    StreamPosition,
    offset_before,
    position,
    positions,
    read_since,
)

log = structlog.get_logger(__name__)

READ_BATCH = 500


class StreamHistory:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    async def after(self, stream_id: str, epoch: str, offset: int) -> list[StreamEntry]:
        """The next batch after (epoch, offset); `HistoryUnavailable` when the stream cannot
        replay from there."""
        async with self.database.transaction(write=False) as session:
            return await read_since(
                session, stream_id, epoch=epoch, offset=offset, limit=READ_BATCH
            )

    async def missed(self, stream_id: str, epoch: str, offset: int) -> list[StreamEntry]:
        """`after`, for a subscription catching up. A read that fails for another reason than
        lost history (the database away) is reported as lost history too: left catching up,
        the subscription would get no live message again, and the caller's answer to lost
        history (`reject_history`, or a reliable client sent to reconnect and replay) is what
        keeps its client from a silent gap."""
        try:
            return await self.after(stream_id, epoch, offset)
        except (HistoryUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("cable_history_read_failed", stream_id=stream_id)
            raise HistoryUnavailable(stream_id, "history read failed") from exc

    async def start_of(self, stream_id: str, request: HistoryRequest) -> tuple[str, int]:
        """Where a history request starts on this stream: its stated position, or the offset
        before its `since` time."""
        if stream_id in request.streams:
            return request.streams[stream_id]
        if request.since is None:
            raise HistoryUnavailable(stream_id, "no position for this stream")
        since = datetime.fromtimestamp(request.since, UTC)
        async with self.database.transaction(write=False) as session:
            found = await offset_before(session, stream_id, since, now=self.clock.now())
        return found.epoch, found.offset

    async def positions(self, stream_ids: list[str]) -> list[StreamPosition]:
        """Where each of these streams is now (what the poll compares its feeds with)."""
        async with self.database.transaction(write=False) as session:
            return await positions(session, stream_ids)

    async def current(self, stream_id: str) -> tuple[str, int]:
        async with self.database.transaction(write=False) as session:
            found = await position(session, stream_id)
        return found.epoch, found.offset
