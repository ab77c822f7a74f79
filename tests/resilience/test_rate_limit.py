"""Rate limits (reliability.md point 4): each store keeps to its vendor's limits per key and
endpoint class, so that Ridgeline never causes its own 429s in steady state."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from ridgeline.clock import FakeClock
from ridgeline.pos.adapters import VENDOR_LIMITS
from ridgeline.pos.adapters.dutchie import RATE_LIMITS as DUTCHIE_LIMITS
from ridgeline.resilience import RateLimit, RateLimiter, TokenBucket
from tests.resilience.virtual_clock import VirtualClock

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def assert_never_over(times: Sequence[float], limit: RateLimit) -> None:
    """No window of `period_s` seconds (closed at both ends) holds more than `limit` calls."""
    ordered = sorted(times)
    for first, last in zip(ordered, ordered[limit.limit :], strict=False):
        assert last - first > limit.period_s, (first, last, limit)


async def sequential_calls(
    bucket: TokenBucket, clock: FakeClock, count: int, seed: int
) -> list[float]:
    rng = random.Random(seed)
    times = []
    for _ in range(count):
        if rng.random() < 0.1:  # now and then the caller pauses, letting tokens pile up
            clock.advance(rng.uniform(0, bucket.limit.period_s))
        await bucket.acquire()
        times.append(clock.now().timestamp())
    return times


ALL_LIMITS = sorted(
    {limit for limits in VENDOR_LIMITS.values() for limit in limits.buckets.values()},
    key=lambda limit: (limit.period_s, limit.limit),
)


@pytest.mark.parametrize("limit", ALL_LIMITS, ids=lambda lim: f"{lim.limit}per{lim.period_s:g}s")
@pytest.mark.parametrize("seed", [1, 2])
async def test_n_calls_over_t_seconds_never_exceed_the_limit_in_any_window(
    limit: RateLimit, seed: int
) -> None:
    clock = FakeClock(NOW)
    bucket = TokenBucket(limit, clock)
    times = await sequential_calls(bucket, clock, 5 * limit.limit, seed)
    assert_never_over(times, limit)


@pytest.mark.parametrize("limit", [RateLimit(40, 1.0, 4), RateLimit(108, 60.0, 10)])
async def test_concurrent_callers_never_exceed_the_limit(limit: RateLimit) -> None:
    clock = VirtualClock(NOW)
    bucket = TokenBucket(limit, clock)
    times: list[float] = []

    async def caller(calls: int) -> None:
        for _ in range(calls):
            await bucket.acquire()
            times.append(clock.now().timestamp())

    await clock.run(*(caller(limit.limit // 2) for _ in range(8)))
    assert len(times) == 4 * limit.limit
    assert_never_over(times, limit)


async def test_a_steady_caller_gets_the_full_rate() -> None:
    """Keeping under the limit must not mean crawling: after the burst, calls come at the
    refill rate."""
    limit = RateLimit(limit=120, period_s=60.0, burst=10)
    clock = FakeClock(NOW)
    bucket = TokenBucket(limit, clock)
    for _ in range(10 + 110):
        await bucket.acquire()
    assert (clock.now() - NOW).total_seconds() == pytest.approx(60.0)


def test_burst_then_refill() -> None:
    clock = FakeClock(NOW)
    bucket = TokenBucket(RateLimit(limit=12, period_s=1.0, burst=2), clock)  # 10/s after 2
    assert [bucket.try_acquire() for _ in range(3)] == [True, True, False]
    clock.advance(0.09)
    assert not bucket.try_acquire()
    clock.advance(0.01)
    assert bucket.try_acquire()
    clock.advance(100)
    assert [bucket.try_acquire() for _ in range(3)] == [True, True, False]  # capped at burst


async def test_acquire_waits_on_the_clock_for_the_next_token() -> None:
    clock = FakeClock(NOW)
    bucket = TokenBucket(RateLimit(limit=11, period_s=1.0, burst=1), clock)  # 10/s
    await bucket.acquire()
    await bucket.acquire()
    assert (clock.now() - NOW).total_seconds() == pytest.approx(0.1)


async def test_a_cancelled_acquire_gives_its_token_back() -> None:
    clock = VirtualClock(NOW)
    bucket = TokenBucket(RateLimit(limit=11, period_s=1.0, burst=1), clock)
    assert bucket.try_acquire()
    waiter = asyncio.ensure_future(bucket.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.tokens == pytest.approx(0.0)  # not -1: the reservation was returned


def test_dutchie_limits_follow_the_documented_ones_with_headroom() -> None:
    per_minute = {
        endpoint: DUTCHIE_LIMITS.bucket_for(endpoint)[1].limit
        for endpoint in (
            "auth",
            "products",
            "products_changed",
            "inventory",
            "order_submit",
            "order_lookup",
            "order_status",
            "order_cancel",
        )
    }
    assert per_minute == {
        "auth": 180,  # 200 documented
        "products": 108,  # 120
        "products_changed": 108,
        "inventory": 180,  # 200
        "order_submit": 216,  # 240
        "order_lookup": 108,  # baseline
        "order_status": 216,
        "order_cancel": 216,
    }
    assert {DUTCHIE_LIMITS.bucket_for(e)[1].period_s for e in per_minute} == {60.0}


def test_endpoint_classes_that_hit_one_vendor_endpoint_share_its_bucket() -> None:
    limiter = RateLimiter(FakeClock(NOW))
    store = uuid.uuid4()
    products = limiter.bucket(store, DUTCHIE_LIMITS, "products")
    assert limiter.bucket(store, DUTCHIE_LIMITS, "products_changed") is products
    assert limiter.bucket(store, DUTCHIE_LIMITS, "inventory") is not products
    # Treez counts every endpoint together.
    treez = VENDOR_LIMITS["treez"]
    assert limiter.bucket(store, treez, "products") is limiter.bucket(store, treez, "order_submit")


async def test_each_store_has_its_own_buckets() -> None:
    limiter = RateLimiter(FakeClock(NOW))
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    while await limiter.try_acquire(busy, DUTCHIE_LIMITS, "inventory"):
        pass
    assert await limiter.try_acquire(quiet, DUTCHIE_LIMITS, "inventory")
    assert await limiter.try_acquire(busy, DUTCHIE_LIMITS, "products")


def test_a_process_share_scales_the_limit_down() -> None:
    limiter = RateLimiter(FakeClock(NOW), share=0.5)
    bucket = limiter.bucket(uuid.uuid4(), DUTCHIE_LIMITS, "order_submit")
    assert (bucket.limit.limit, bucket.limit.period_s) == (108, 60.0)


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimit(limit=10, period_s=1.0, burst=10)
    with pytest.raises(ValueError, match="share"):
        RateLimiter(FakeClock(NOW), share=0)
