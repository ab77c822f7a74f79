"""Presence of several stores at once (`CableState.present_many`), in memory and in Redis: the
same answer as `present` store by store, stale entries left out, and one Redis round trip
whatever the number of stores."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ridgeline.realtime.state import (
    PRESENCE_STALE_S,
    CableState,
    MemoryCableState,
    PresenceEntry,
    RedisCableState,
)
from tests.redis_server import REDIS_SERVER, PrivateRedis


def entry(store_id: str, *, age_s: float = 0.0, connected_at: float | None = None) -> PresenceEntry:
    now = time.time()
    return PresenceEntry(
        connection_id=uuid.uuid4().hex,
        kiosk_id=str(uuid.uuid4()),
        store_id=store_id,
        node="test",
        connected_at=connected_at if connected_at is not None else now - age_s,
        refreshed_at=now - age_s,
    )


async def check_present_many(state: CableState) -> None:
    stores = [str(uuid.uuid4()) for _ in range(3)]
    first, second = stores[0], stores[1]
    early = entry(first, connected_at=time.time() - 60)
    late = entry(first)
    await state.join(late)
    await state.join(early)
    only = entry(second)
    await state.join(only)
    found = await state.present_many(stores)
    assert found == {first: [early, late], second: [only], stores[2]: []}
    for store_id in stores:
        assert found[store_id] == await state.present(store_id)
    assert await state.present_many([]) == {}
    await state.leave(first, early.connection_id)
    assert (await state.present_many([first]))[first] == [late]


async def test_memory_present_many() -> None:
    await check_present_many(MemoryCableState())


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip(f"{REDIS_SERVER} is not installed")
    redis = PrivateRedis(tmp_path / "redis.log")
    await redis.start()
    try:
        yield redis.url
    finally:
        await redis.stop()


async def test_redis_present_many_in_one_round_trip_without_stale_entries(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = RedisCableState(redis_url, prefix=f"test:{uuid.uuid4().hex}")
    try:
        await check_present_many(state)
        store_id = str(uuid.uuid4())
        live = entry(store_id)
        dead = entry(store_id, age_s=PRESENCE_STALE_S + 5)  # its process stopped refreshing
        await state.refresh([live, dead])
        stores = [store_id, *(str(uuid.uuid4()) for _ in range(49))]
        executed: list[int] = []
        original = state._redis.pipeline

        def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = original(*args, **kwargs)
            execute = pipe.execute

            async def counted(*a: Any, **k: Any) -> Any:
                executed.append(len(pipe.command_stack))
                return await execute(*a, **k)

            monkeypatch.setattr(pipe, "execute", counted)
            return pipe

        monkeypatch.setattr(state._redis, "pipeline", counting_pipeline)
        found = await state.present_many(stores)
        assert found[store_id] == [live]
        assert all(found[other] == [] for other in stores[1:])
        # One pipeline of 50 HGETALLs, then one of the HDEL of the stale entry.
        assert executed == [50, 1]
        executed.clear()
        assert (await state.present_many(stores))[store_id] == [live]
        assert executed == [50]  # the stale entry is gone: nothing to delete
    finally:
        await state.close()
