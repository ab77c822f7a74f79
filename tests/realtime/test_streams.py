"""Stream history: offsets, epochs, replay without gaps, and retention."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ridgeline.db.engine import Database
from ridgeline.models import Stream
from ridgeline.realtime import streams
from ridgeline.realtime.streams import HistoryUnavailable

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def stream_id() -> str:
    return streams.store_stream(uuid.uuid4())


async def test_offsets_grow_by_one_per_message(database: Database) -> None:
    sid = stream_id()
    async with database.transaction() as session:
        first = await streams.append(session, sid, "product.updated", {"id": "a"}, at=NOW)
        more = await streams.append_many(
            session, sid, [("inventory.changed", {"q": 1}), ("inventory.changed", {"q": 2})], at=NOW
        )
    assert [first.offset, *(p.offset for p in more)] == [1, 2, 3]
    assert {first.epoch, *(p.epoch for p in more)} == {first.epoch}
    async with database.transaction(write=False) as session:
        replay = await streams.read_since(session, sid, epoch=first.epoch, offset=1)
    assert [(e.offset, e.message["type"], e.message["data"]) for e in replay] == [
        (2, "inventory.changed", {"q": 1}),
        (3, "inventory.changed", {"q": 2}),
    ]
    assert replay[0].message["at"] == "2026-05-01T12:00:00Z"


async def test_a_rolled_back_change_leaves_no_message(database: Database) -> None:
    sid = stream_id()
    async with database.transaction() as session:
        start = await streams.position(session, sid)

    async def failing_change() -> None:
        async with database.transaction() as session:
            await streams.append(session, sid, "product.updated", {}, at=NOW)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with database.transaction(write=False) as session:
        assert await streams.read_since(session, sid, epoch=start.epoch, offset=0) == []
        assert (await streams.position(session, sid)).offset == 0


async def test_replay_is_refused_rather_than_partial(database: Database) -> None:
    sid = stream_id()
    async with database.transaction() as session:
        for n in range(10):
            await streams.append(session, sid, "inventory.changed", {"n": n}, at=NOW)
        epoch = (await streams.position(session, sid)).epoch
        removed = await streams.prune(session, now=NOW, max_messages=4)
    assert removed == 6
    async with database.transaction(write=False) as session:
        kept = await streams.read_since(session, sid, epoch=epoch, offset=6)
        assert [e.offset for e in kept] == [7, 8, 9, 10]
        with pytest.raises(HistoryUnavailable, match="pruned"):
            await streams.read_since(session, sid, epoch=epoch, offset=5)
        with pytest.raises(HistoryUnavailable, match="epoch"):
            await streams.read_since(session, sid, epoch="another", offset=9)
        with pytest.raises(HistoryUnavailable):
            await streams.read_since(session, sid, epoch=epoch, offset=11)


async def test_old_messages_are_pruned_by_age(database: Database) -> None:
    sid = stream_id()
    async with database.transaction() as session:
        await streams.append(session, sid, "old", {}, at=NOW - timedelta(days=3))
        await streams.append(session, sid, "new", {}, at=NOW)
        assert await streams.prune(session, now=NOW, max_age=timedelta(days=2)) == 1


async def test_concurrent_appenders_never_share_an_offset(database: Database) -> None:
    sid = stream_id()

    async def writer(n: int) -> list[int]:
        offsets = []
        for _ in range(5):
            async with database.transaction() as session:
                offsets.append((await streams.append(session, sid, "e", {"w": n}, at=NOW)).offset)
        return offsets

    results = await asyncio.gather(*(writer(n) for n in range(4)))
    offsets = sorted(o for result in results for o in result)
    assert offsets == list(range(1, 21))


async def test_a_new_streams_position_is_read_without_writing(database: Database) -> None:
    sid = stream_id()
    async with database.transaction(write=False) as session:
        before = await streams.position(session, sid)
        assert before.offset == 0
        assert await streams.read_since(session, sid, epoch=before.epoch, offset=0) == []
        assert await session.get(Stream, sid) is None  # nothing was written
    async with database.transaction() as session:
        first = await streams.append(session, sid, "product.created", {}, at=NOW)
    assert (first.epoch, first.offset) == (before.epoch, 1)  # the same epoch: no resync needed
    async with database.transaction(write=False) as session:
        replay = await streams.read_since(session, sid, epoch=before.epoch, offset=0)
    assert [entry.offset for entry in replay] == [1]
