"""The sign-in throttle shared through Redis (scaled mode), against a real, private
`redis-server`: two throttles stand for two server processes. Failures count for the deployment
whichever process each attempt reaches; when Redis dies each process keeps its share of the
allowance, and counts together again once Redis is back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ridgeline.auth.throttle import SignInThrottle
from ridgeline.clock import FakeClock
from ridgeline.errors import RateLimited
from ridgeline.resilience.shared import RECHECK_AFTER_S
from tests.redis_server import PrivateRedis, running_redis

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EMAIL = "Ana@Example.com"


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    async with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
async def two_processes(redis_server: PrivateRedis) -> AsyncIterator[list[SignInThrottle]]:
    throttles = [
        SignInThrottle.shared_through(redis_server.url, fallback_share=0.5) for _ in range(2)
    ]
    try:
        yield throttles
    finally:
        for throttle in throttles:
            await throttle.aclose()


async def is_throttled(throttle: SignInThrottle, keys: list[str], clock: FakeClock) -> bool:
    try:
        await throttle.check(keys, clock.now())
    except RateLimited:
        return True
    return False


async def test_failures_on_two_processes_add_up(two_processes: list[SignInThrottle]) -> None:
    first, second = two_processes
    clock = FakeClock(NOW)
    for number in range(10):  # the email's allowance, alternating between the processes
        keys = SignInThrottle.keys(EMAIL, f"10.0.0.{number}")
        await (first if number % 2 else second).record_failure(keys, clock.now())
        clock.advance(1)
    keys = SignInThrottle.keys(EMAIL.lower(), "10.0.9.9")
    with pytest.raises(RateLimited) as refused:
        await first.check(keys, clock.now())
    assert refused.value.headers["Retry-After"] == str(300 - 10)  # the first leaves the window then
    assert await is_throttled(second, keys, clock)
    clock.advance(290)
    assert not await is_throttled(second, keys, clock)


async def test_a_success_on_one_process_clears_the_email_for_all(
    two_processes: list[SignInThrottle],
) -> None:
    first, second = two_processes
    clock = FakeClock(NOW)
    keys = SignInThrottle.keys(EMAIL, "10.0.0.1")
    for _ in range(9):
        await first.record_failure(keys, clock.now())
    await second.record_success(keys[:1], clock.now())
    await second.record_failure(keys, clock.now())
    assert not await is_throttled(first, keys, clock)


async def test_a_redis_outage_keeps_each_process_to_its_share(
    redis_server: PrivateRedis, two_processes: list[SignInThrottle]
) -> None:
    first, second = two_processes
    clock = FakeClock(NOW)
    keys = SignInThrottle.keys(EMAIL, "10.0.0.1")
    await redis_server.stop(kill=True)
    for _ in range(5):  # half of the email's allowance, on each process
        await first.record_failure(keys, clock.now())
    assert await is_throttled(first, keys, clock)
    assert not await is_throttled(second, keys, clock)  # its own count, while Redis is away

    await redis_server.start()
    clock.advance(RECHECK_AFTER_S)
    assert not await is_throttled(first, keys, clock)  # Redis restarted empty: counts anew
    for _ in range(10):
        await second.record_failure(keys, clock.now())
    assert await is_throttled(first, keys, clock)
