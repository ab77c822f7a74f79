"""The embedded session store: a sid restores once, and expired sessions are dropped."""

from __future__ import annotations

from ridgeline.realtime.state import MemoryCableState


async def test_a_session_restores_once_and_expires() -> None:
    now = [1000.0]
    store = MemoryCableState(monotonic=lambda: now[0])
    await store.save_session("old", {"n": 1}, ttl_s=10)
    await store.save_session("kept", {"n": 2}, ttl_s=10)
    now[0] += 5
    await store.save_session("new", {"n": 3}, ttl_s=10)
    assert await store.take_session("kept") == {"n": 2}
    assert await store.take_session("kept") is None  # once
    now[0] += 6  # "old" expired, "new" has 4 s left
    await store.save_session("newest", {"n": 4}, ttl_s=10)
    assert len(store._sessions) == 2  # the expired one was dropped on the way
    assert await store.take_session("old") is None
    assert await store.take_session("new") == {"n": 3}
