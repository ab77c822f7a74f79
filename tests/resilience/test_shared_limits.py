"""Limits shared through Redis (scaled mode), against a real, private `redis-server`: each limiter
instance, with a Redis client of its own, stands for one process; one fake clock is everyone's
time. Together the processes keep to a vendor's limit, and one busy process may use all of it;
the retry budget (and its minimum) is the store's, not each process's. When Redis dies every
call is still answered, from the process's fallback share, with one warning and a metric; when
Redis is back the limits are shared again, by themselves."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY

from ridgeline.clock import FakeClock
from ridgeline.resilience import BudgetConfig, RateLimit, RateLimiter, RateLimits, RetryBudgets
from ridgeline.resilience import shared as shared_module
from ridgeline.resilience.metrics import LimitKind
from ridgeline.resilience.shared import RECHECK_AFTER_S, SharedLimitsLink, limits_redis
from tests.redis_server import PrivateRedis, running_redis
from tests.resilience.test_rate_limit import assert_never_over

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROCESSES = 3
SHARE = 1 / PROCESSES
LIMIT = RateLimit(limit=30, period_s=10.0, burst=3)
LIMITS = RateLimits(vendor="acme", buckets={"default": LIMIT})
BUDGET = BudgetConfig(window_s=10.0, min_retries_per_s=0.5, ratio=0.2)  # minimum 5 per window


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    async with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def shared_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """What `ridgeline.resilience.shared` logs (through a fresh logger: the module's own may be
    cached with the process's configuration, which capture_logs cannot redirect)."""
    with structlog.testing.capture_logs() as logs:
        monkeypatch.setattr(shared_module, "log", structlog.get_logger(shared_module.__name__))
        yield logs


@asynccontextmanager
async def processes(url: str, kind: LimitKind) -> AsyncIterator[list[SharedLimitsLink]]:
    """One link per process, each on a Redis client of its own."""
    clients = [limits_redis(url) for _ in range(PROCESSES)]
    try:
        yield [SharedLimitsLink(client, kind) for client in clients]
    finally:
        for client in clients:
            await client.aclose()


def metric(name: str, kind: LimitKind) -> float:
    value = REGISTRY.get_sample_value(name, {"limiter": kind.value})
    assert value is not None, name
    return value


async def drain(limiter: RateLimiter, store_id: uuid.UUID) -> int:
    """Every token the limiter lets this process take right now."""
    taken = 0
    while await limiter.try_acquire(store_id, LIMITS, "products"):
        taken += 1
    return taken


async def releases_over_one_period(limiter: RateLimiter, clock: FakeClock) -> int:
    """What one busy process gets in one period (both ends included), drawing as soon as a
    token is due."""
    store_id, taken = uuid.uuid4(), 0
    for _ in range(int(LIMIT.period_s / 0.05) + 1):
        taken += await drain(limiter, store_id)
        clock.advance(0.05)
    return taken


async def test_processes_together_never_exceed_the_vendor_limit(
    redis_server: PrivateRedis,
) -> None:
    clock = FakeClock(NOW)
    rng = random.Random(5)
    store_id = uuid.uuid4()
    times: list[float] = []
    async with processes(redis_server.url, LimitKind.POS_RATE_LIMIT) as links:
        limiters = [RateLimiter(clock, share=SHARE, shared=link) for link in links]
        for call in range(5 * LIMIT.limit):
            # After the first periods, the callers pause now and then, letting tokens pile up.
            if call > 2 * LIMIT.limit and rng.random() < 0.1:
                clock.advance(rng.uniform(0, LIMIT.period_s))
            await rng.choice(limiters).acquire(store_id, LIMITS, "products")
            times.append(clock.now().timestamp())
    assert_never_over(times, LIMIT)
    # Each process alone would have kept to a third; together they used the whole limit (the
    # last token of the first period is due at its very end, give or take a microsecond).
    assert sum(1 for t in times if t - times[0] <= LIMIT.period_s + 1e-3) == LIMIT.limit


async def test_one_busy_process_may_use_the_whole_limit(redis_server: PrivateRedis) -> None:
    clock = FakeClock(NOW)
    async with processes(redis_server.url, LimitKind.POS_RATE_LIMIT) as links:
        busy, *others = [RateLimiter(clock, share=SHARE, shared=link) for link in links]
        assert await releases_over_one_period(busy, clock) == LIMIT.limit
        store_id = uuid.uuid4()
        assert await drain(busy, store_id) == LIMIT.burst
        # What the busy process took, the others cannot: the bucket is the store's.
        assert [await drain(other, store_id) for other in others] == [0, 0]
    own_clock = FakeClock(NOW)
    alone = RateLimiter(own_clock, share=SHARE)  # a process on its own share, no Redis
    assert 0 < await releases_over_one_period(alone, own_clock) <= LIMIT.limit // PROCESSES


async def test_the_retry_budget_is_the_stores_across_processes(
    redis_server: PrivateRedis,
) -> None:
    clock = FakeClock(NOW)
    store_id = uuid.uuid4()
    async with processes(redis_server.url, LimitKind.RETRY_BUDGET) as links:
        budgets = [
            RetryBudgets(clock, BUDGET, shared=link, fallback_share=SHARE).for_store(store_id)
            for link in links
        ]
        # No traffic: the minimum is the store's, once, not once per process.
        spent = [await budget.try_spend_retry() for budget in budgets for _ in range(5)]
        assert spent.count(True) == 5
        clock.advance(BUDGET.window_s + 0.1)
        # One process makes 100 first attempts; the others' retries draw on 20% of them.
        for _ in range(100):
            await budgets[0].record_first_attempt()
        spent = [await budget.try_spend_retry() for budget in budgets[1:] for _ in range(15)]
        assert spent.count(True) == 20
        assert not await budgets[0].try_spend_retry()
        clock.advance(BUDGET.window_s + 0.1)  # everything has left the window
        assert await budgets[0].try_spend_retry()


async def test_a_redis_outage_falls_back_to_the_share_and_recovers(
    redis_server: PrivateRedis, shared_logs: list[MutableMapping[str, Any]]
) -> None:
    clock = FakeClock(NOW)
    kind = LimitKind.POS_RATE_LIMIT
    fallbacks_before = metric("ridgeline_shared_limits_fallback_total", kind)
    async with processes(redis_server.url, kind) as links:
        limiters = [RateLimiter(clock, share=SHARE, shared=link) for link in links]
        budgets = RetryBudgets(clock, BUDGET, shared=links[0], fallback_share=SHARE)
        assert await releases_over_one_period(limiters[0], clock) == LIMIT.limit
        assert metric("ridgeline_shared_limits_degraded", kind) == 0

        await redis_server.stop(kill=True)
        # Every call is answered, each process keeping to its third of the limit.
        got = [await releases_over_one_period(limiter, clock) for limiter in limiters]
        assert all(0 < n <= LIMIT.limit // PROCESSES for n in got), got
        store_id = uuid.uuid4()
        await limiters[0].acquire(store_id, LIMITS, "products")  # waits on its own bucket
        await budgets.for_store(store_id).record_first_attempt()
        assert await budgets.for_store(store_id).try_spend_retry()
        warnings = [entry for entry in shared_logs if entry["event"] == "shared_limits_unavailable"]
        # One warning per process's limit for the whole outage, not one per call.
        assert sorted(entry["limiter"] for entry in warnings) == [kind.value] * PROCESSES
        assert metric("ridgeline_shared_limits_degraded", kind) == 1
        calls = sum(got) + PROCESSES * 2  # each drain ends with one refused try
        assert metric("ridgeline_shared_limits_fallback_total", kind) - fallbacks_before >= calls

        await redis_server.start()
        clock.advance(RECHECK_AFTER_S)
        # Shared again: one process may use the whole limit.
        assert await releases_over_one_period(limiters[0], clock) == LIMIT.limit
        assert metric("ridgeline_shared_limits_degraded", kind) == 0
        assert [link.degraded for link in links] == [False, True, True]  # the others: not asked yet
        restored = [entry for entry in shared_logs if entry["event"] == "shared_limits_restored"]
        assert [entry["limiter"] for entry in restored] == [kind.value]
