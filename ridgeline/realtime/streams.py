"""Stream history in the database: the durable truth every real-time delivery starts from.

A stream (`store:{id}`, `kiosk:{id}`, `order:{id}`, `ops:{organization_id}`) has an epoch and a
last offset. `append` adds a message inside the caller's transaction, so a change and its event
commit (or not) together; offsets grow by one per message. `read_since` replays what a client
missed, or says it cannot (`HistoryUnavailable`) so the client reloads: never a partial replay.
`prune` bounds each stream by count and age. See realtime-protocol.md ("Reliable extension").
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.engine import APPENDED_STREAMS
from ridgeline.models.stream import Stream, StreamMessage

DEFAULT_MAX_MESSAGES = 10_000
DEFAULT_MAX_AGE = timedelta(days=2)


def store_stream(store_id: uuid.UUID) -> str:
    return f"store:{store_id}"


def kiosk_stream(kiosk_id: uuid.UUID) -> str:
    return f"kiosk:{kiosk_id}"


def order_stream(order_id: uuid.UUID) -> str:
    return f"order:{order_id}"


def ops_stream(organization_id: uuid.UUID) -> str:
    return f"ops:{organization_id}"


@dataclass(frozen=True, slots=True)
class StreamPosition:
    stream_id: str
    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class StreamEntry:
    stream_id: str
    epoch: str
    offset: int
    message: Mapping[str, Any]  # {"type", "data", "at"}


class HistoryUnavailable(Exception):
    """The stream cannot replay from that position (unknown epoch, or messages pruned)."""

    def __init__(self, stream_id: str, reason: str) -> None:
        super().__init__(f"{stream_id}: {reason}")
        self.stream_id = stream_id
        self.reason = reason


def _initial_epoch(stream_id: str) -> str:
    """A new stream's epoch, known before its row exists, so that reading the position of a
    stream nobody wrote to yet needs no write (a kiosk's first catalog read is a GET)."""
    return hashlib.sha256(stream_id.encode()).hexdigest()[:16]


async def _lock_stream(session: AsyncSession, stream_id: str, now: datetime) -> Stream:
    """The stream's row, created if new, locked for this transaction (FOR UPDATE on PostgreSQL;
    SQLite's write transaction already serialises writers)."""
    dialect = session.get_bind().dialect.name
    values = {
        "stream_id": stream_id,
        "epoch": _initial_epoch(stream_id),
        "last_offset": 0,
        "created_at": now,
    }
    create = pg_insert(Stream) if dialect == "postgresql" else sqlite_insert(Stream)
    await session.execute(create.values(**values).on_conflict_do_nothing())
    query = select(Stream).where(Stream.stream_id == stream_id)
    if dialect == "postgresql":
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).one()


async def append(
    session: AsyncSession,
    stream_id: str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    at: datetime,
) -> StreamPosition:
    """Add one message to the stream in the caller's transaction; returns its position."""
    entries = await append_many(session, stream_id, [(event_type, data)], at=at)
    return entries[-1]


async def append_many(
    session: AsyncSession,
    stream_id: str,
    events: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    at: datetime,
) -> list[StreamPosition]:
    """Several messages in order, taking the stream's lock once (a sync appends hundreds)."""
    if not events:
        return []
    stream = await _lock_stream(session, stream_id, at)
    first = stream.last_offset + 1
    stamp = at.isoformat().replace("+00:00", "Z")
    rows = [
        {
            "stream_id": stream_id,
            "offset": first + index,
            "epoch": stream.epoch,
            "payload": {"type": event_type, "data": dict(data), "at": stamp},
            "created_at": at,
        }
        for index, (event_type, data) in enumerate(events)
    ]
    await session.execute(insert(StreamMessage), rows)
    last = first + len(events) - 1
    await session.execute(
        update(Stream).where(Stream.stream_id == stream_id).values(last_offset=last)
    )
    stream.last_offset = last
    # Announced to the hub and backplane once this transaction commits (see db.engine).
    session.info.setdefault(APPENDED_STREAMS, {})[stream_id] = last
    return [StreamPosition(stream_id, stream.epoch, first + index) for index in range(len(rows))]


async def position(session: AsyncSession, stream_id: str) -> StreamPosition:
    """Where the stream is now: what a client loading the catalog over REST keeps, to ask for
    what changed after it. A stream nobody wrote to is at offset 0 of its initial epoch; reading
    that writes nothing."""
    stream = await session.get(Stream, stream_id)
    if stream is None:
        return StreamPosition(stream_id, _initial_epoch(stream_id), 0)
    return StreamPosition(stream_id, stream.epoch, stream.last_offset)


async def positions(session: AsyncSession, stream_ids: Sequence[str]) -> list[StreamPosition]:
    """Where each of these streams is now, in one query per 500 ids (the hub's poll)."""
    found: dict[str, StreamPosition] = {}
    ids = list(dict.fromkeys(stream_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await session.execute(
            select(Stream.stream_id, Stream.epoch, Stream.last_offset).where(
                Stream.stream_id.in_(chunk)
            )
        )
        for stream_id, epoch, last_offset in rows.all():
            found[stream_id] = StreamPosition(stream_id, epoch, last_offset)
    return [found.get(i) or StreamPosition(i, _initial_epoch(i), 0) for i in ids]


async def offset_before(
    session: AsyncSession,
    stream_id: str,
    since: datetime,
    *,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> StreamPosition:
    """The position just before the first message created at or after `since`, for a client that
    knows only when it last heard from the server. `HistoryUnavailable` when messages after
    `since` may have been pruned."""
    current = await position(session, stream_id)
    first_after = await session.scalar(
        select(func.min(StreamMessage.offset)).where(
            StreamMessage.stream_id == stream_id, StreamMessage.created_at >= since
        )
    )
    oldest = await session.execute(
        select(StreamMessage.offset, StreamMessage.created_at)
        .where(StreamMessage.stream_id == stream_id)
        .order_by(StreamMessage.offset)
        .limit(1)
    )
    row = oldest.first()
    if row is not None and row.offset > 1 and row.created_at > since:
        raise HistoryUnavailable(stream_id, "messages pruned")
    if row is None and current.offset > 0 and since < now - max_age:
        # Nothing is retained. Pruning by count keeps the newest messages, so all of them went
        # by age: none was newer than `max_age`, and a `since` within it missed nothing.
        raise HistoryUnavailable(stream_id, "messages pruned")
    if first_after is None:
        return current
    return StreamPosition(stream_id, current.epoch, first_after - 1)


async def read_since(
    session: AsyncSession,
    stream_id: str,
    *,
    epoch: str,
    offset: int,
    limit: int = 1000,
) -> list[StreamEntry]:
    """Every message after `offset` (at most `limit`, oldest first), or `HistoryUnavailable`
    when the epoch changed or messages after `offset` were pruned."""
    stream = await session.get(Stream, stream_id)
    if stream is None:
        if epoch == _initial_epoch(stream_id) and offset == 0:
            return []  # nothing written yet
        raise HistoryUnavailable(stream_id, "epoch changed")
    if stream.epoch != epoch:
        raise HistoryUnavailable(stream_id, "epoch changed")
    if offset > stream.last_offset or offset < 0:
        raise HistoryUnavailable(stream_id, "offset out of range")
    if offset == stream.last_offset:
        return []
    oldest = await session.scalar(
        select(func.min(StreamMessage.offset)).where(StreamMessage.stream_id == stream_id)
    )
    if oldest is None or oldest > offset + 1:
        raise HistoryUnavailable(stream_id, "messages pruned")
    rows = await session.scalars(
        select(StreamMessage)
        .where(StreamMessage.stream_id == stream_id, StreamMessage.offset > offset)
        .order_by(StreamMessage.offset)
        .limit(limit)
    )
    return [StreamEntry(r.stream_id, r.epoch, r.offset, r.payload) for r in rows.all()]


async def prune(
    session: AsyncSession,
    *,
    now: datetime,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> int:
    """Drop messages older than `max_age`, and beyond the newest `max_messages` of each stream."""
    aged = await session.execute(
        delete(StreamMessage).where(StreamMessage.created_at < now - max_age)
    )
    removed = int(getattr(aged, "rowcount", 0) or 0)
    crowded = await session.execute(
        select(Stream.stream_id, Stream.last_offset).where(Stream.last_offset > max_messages)
    )
    for stream_id, last_offset in crowded.all():
        result = await session.execute(
            delete(StreamMessage).where(
                StreamMessage.stream_id == stream_id,
                StreamMessage.offset <= last_offset - max_messages,
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
