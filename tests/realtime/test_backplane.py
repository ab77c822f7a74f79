"""The backplane's publisher in a process without a hub (a worker, the CLI): what commits
announce reaches Redis, and leaving `announcing_commits` publishes what is left and returns."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ridgeline.db.engine import Database
from ridgeline.realtime import backplane as backplane_module
from ridgeline.realtime import streams
from ridgeline.realtime.backplane import (
    CHANNEL,
    Backplane,
    KioskDisconnect,
    Notice,
    NoticeHandler,
    Reconnected,
    RedisBackplane,
    StreamAdvanced,
    announcing_commits,
    decode_notices,
    encode_notices,
)
from tests.redis_server import running_redis


async def test_leaving_announces_every_commit_and_returns(
    database: Database, tmp_path: Path
) -> None:
    """Commits made just before the block ends still reach the other processes (the CLI's sync
    command ends right after its last commit), and the block does not hang on the way out."""
    async with running_redis(tmp_path) as redis:
        listener = redis.client()
        pubsub = listener.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            async with asyncio.timeout(30):
                async with announcing_commits(database, RedisBackplane(redis.url)):
                    for n in range(5):
                        async with database.transaction() as session:
                            await streams.append(
                                session, f"test:backplane:{n}", "x", {}, at=datetime.now(UTC)
                            )
            heard: set[str] = set()
            async with asyncio.timeout(10):
                while len(heard) < 5:
                    item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                    if item is not None:
                        heard.update(notice["s"] for notice in json.loads(item["data"]))
            assert heard == {f"test:backplane:{n}" for n in range(5)}
        finally:
            await pubsub.aclose()
            await listener.aclose()


class AbsorbsCancellation(Backplane):
    """A backplane whose publish swallows a cancellation, as a Redis client caught mid-publish
    can: stopping the publisher must not depend on cancelling it."""

    def __init__(self) -> None:
        self.published: list[Notice] = []
        self.publishing = asyncio.Event()

    async def start(self, handler: NoticeHandler, reconnected: Reconnected) -> None:
        return None

    async def publish(self, notices: Sequence[Notice]) -> None:
        self.publishing.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.2)
        self.published.extend(notices)

    async def close(self) -> None:
        return None


async def test_a_publish_that_absorbs_cancellation_does_not_hang_the_exit(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backplane_module, "PUBLISHER_STOP_S", 2.0)
    plane = AbsorbsCancellation()
    async with asyncio.timeout(10):
        async with announcing_commits(database, plane):
            async with database.transaction() as session:
                await streams.append(session, "test:absorb:1", "x", {}, at=datetime.now(UTC))
            await plane.publishing.wait()  # the block ends while that publish is under way
            async with database.transaction() as session:
                await streams.append(session, "test:absorb:2", "x", {}, at=datetime.now(UTC))
    announced = {n.stream_id for n in plane.published if isinstance(n, StreamAdvanced)}
    assert announced == {"test:absorb:1", "test:absorb:2"}


def test_notices_survive_the_wire_and_malformed_ones_are_skipped() -> None:
    notices: list[Notice] = [
        StreamAdvanced("store:1", 7),
        KioskDisconnect("k-1", reconnect=True),
        KioskDisconnect("k-2", reconnect=False, key_id="key-9"),
    ]
    assert decode_notices(encode_notices(notices)) == notices
    mixed = json.dumps(
        [{"t": "d", "k": "k-3", "r": False, "y": 5}, {"t": "d"}, "x", {"t": "s", "s": "a"}]
    )
    assert decode_notices(mixed) == [KioskDisconnect("k-3", reconnect=False)]
    assert decode_notices("not json") == []
