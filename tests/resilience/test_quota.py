"""Request quotas (the API's rate limits): a bucket answers at once and says what is left; in
scaled mode the processes draw from one bucket in a real, private `redis-server`, so together
they never let more through than the limit; when Redis dies each decides alone on its share,
never raising."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ridgeline.clock import FakeClock
from ridgeline.resilience.metrics import LimitKind
from ridgeline.resilience.quota import QuotaLimiter
from ridgeline.resilience.rate_limit import RateLimit
from ridgeline.resilience.shared import SharedLimitsLink, limits_redis
from tests.redis_server import PrivateRedis, running_redis

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIMIT = RateLimit(limit=70, period_s=60.0, burst=10)  # refills 1 token a second
PROCESSES = 3
KIND = LimitKind.API_RATE_LIMIT


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    async with running_redis(tmp_path) as server:
        yield server


async def drain(limiter: QuotaLimiter, key: str) -> int:
    taken = 0
    while (await limiter.draw(key, LIMIT)).allowed:
        taken += 1
    return taken


def fallbacks() -> float:
    value = REGISTRY.get_sample_value("ridgeline_shared_limits_fallback_total", {"limiter": KIND})
    assert value is not None
    return value


async def test_a_bucket_says_what_is_left_and_when_to_retry() -> None:
    clock = FakeClock(NOW)
    limiter = QuotaLimiter(clock)
    first = await limiter.draw("kiosk_read:a", LIMIT)
    assert (first.allowed, first.remaining, first.retry_after_s) == (True, 9, 0.0)
    assert first.reset_s == pytest.approx(1.0)  # one token at 1 per second
    assert await drain(limiter, "kiosk_read:a") == 9
    refused = await limiter.draw("kiosk_read:a", LIMIT)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(1.0)
    assert (await limiter.draw("kiosk_read:b", LIMIT)).allowed  # another caller's bucket
    clock.advance(1.0)
    assert (await limiter.draw("kiosk_read:a", LIMIT)).allowed


async def test_too_many_callers_forget_full_buckets_first() -> None:
    clock = FakeClock(NOW)
    limiter = QuotaLimiter(clock, max_local_buckets=3)
    await drain(limiter, "busy")
    for key in ("a", "b"):
        await limiter.draw(key, LIMIT)
    clock.advance(2.0)  # a and b are full again, busy has 2 tokens
    await limiter.draw("c", LIMIT)  # over the maximum: a and b go, busy stays
    assert (await limiter.draw("busy", LIMIT)).remaining == 1


async def test_processes_together_never_exceed_the_limit(redis_server: PrivateRedis) -> None:
    clock = FakeClock(NOW)
    clients = [limits_redis(redis_server.url) for _ in range(PROCESSES)]
    try:
        limiters = [
            QuotaLimiter(clock, shared=SharedLimitsLink(c, KIND), fallback_share=1 / PROCESSES)
            for c in clients
        ]
        # Over one window, the processes drawing in turn get the whole limit between them, once.
        taken = 0
        for _ in range(int(LIMIT.period_s) + 1):
            for limiter in limiters:
                taken += await drain(limiter, "kiosk_read:k")
            clock.advance(1.0)
        assert taken <= LIMIT.limit + 1  # the window's both ends
        assert taken >= LIMIT.limit - 1
        # One process may use all of it: the bucket is the caller's, not the process's.
        clock.advance(LIMIT.period_s)
        assert await drain(limiters[0], "kiosk_read:k") == LIMIT.burst
        assert await drain(limiters[1], "kiosk_read:k") == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_redis_down_falls_back_to_the_share_without_raising(
    redis_server: PrivateRedis,
) -> None:
    clock = FakeClock(NOW)
    client = limits_redis(redis_server.url)
    link = SharedLimitsLink(client, KIND)
    limiter = QuotaLimiter(clock, shared=link, fallback_share=1 / PROCESSES)
    try:
        assert await drain(limiter, "anonymous_read:x") == LIMIT.burst
        before = fallbacks()
        await redis_server.stop(kill=True)
        draw = await limiter.draw("anonymous_read:y", LIMIT)
        assert draw.allowed
        assert draw.limit == LIMIT.scaled(1 / PROCESSES)  # 23 a minute, burst 2
        assert await drain(limiter, "anonymous_read:y") == draw.limit.burst - 1
        assert link.degraded
        assert fallbacks() - before >= draw.limit.burst + 1
        value = REGISTRY.get_sample_value("ridgeline_shared_limits_degraded", {"limiter": KIND})
        assert value == 1
    finally:
        await client.aclose()
