"""The mechanisms combined around one POS call: rate limit -> breaker permit -> attempt ->
record -> retry decision with the budget."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.resilience import (
    AttemptFailure,
    BudgetConfig,
    CircuitOpen,
    Permit,
    RateLimit,
    RateLimiter,
    RateLimits,
    RetryBudget,
    RetryPolicy,
    StoreGuard,
)
from tests.resilience.factories import CONFIG, make_breaker

LIMITS = RateLimits(vendor="test", buckets={"default": RateLimit(limit=11, period_s=1.0, burst=1)})


class PosAnswered(Exception):
    """What a POS client raises for an answered error status."""

    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"POS answered {status}")
        self.status = status
        self.retry_after = retry_after


def classify(exc: BaseException) -> AttemptFailure | None:
    if isinstance(exc, PosAnswered):
        return AttemptFailure.http_status(exc.status, exc.retry_after)
    return AttemptFailure.from_exception(exc)


def make_guard(
    database: Database,
    clock: FakeClock,
    store_id: uuid.UUID,
    *,
    policy: RetryPolicy | None = None,
    budget: RetryBudget | None = None,
) -> StoreGuard:
    return StoreGuard(
        store_id=store_id,
        limits=LIMITS,
        limiter=RateLimiter(clock),
        breaker=make_breaker(database, clock, store_id),
        budget=budget,
        policy=policy or RetryPolicy(max_attempts=3, base_s=0.5, cap_s=0.5),
        clock=clock,
        rng=random.Random(4),
    )


async def test_a_transient_failure_is_retried_and_every_attempt_is_rate_limited(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)
    attempts: list[float] = []
    start = clock.now()

    async def flaky() -> str:
        attempts.append((clock.now() - start).total_seconds())
        if len(attempts) == 1:
            raise httpx.ConnectError("refused")
        return "catalog"

    assert await guard.call("products", flaky, idempotent=True, classify=classify) == "catalog"
    assert len(attempts) == 2
    # The retry waited its jittered delay, and then at least the bucket's 0.1 s between calls.
    assert attempts[1] >= 0.1
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls) == (2, 1)


async def test_an_open_breaker_fails_fast_without_calling(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)
    reached_pos = 0

    async def down() -> None:
        nonlocal reached_pos
        reached_pos += 1
        raise httpx.ConnectTimeout("slow")

    with pytest.raises(httpx.ConnectTimeout):  # 3 attempts
        await guard.call("products", down, idempotent=True, classify=classify)
    with pytest.raises(CircuitOpen):  # 2 more: the 5th failure opens it before the 6th
        await guard.call("products", down, idempotent=True, classify=classify)
    assert reached_pos == CONFIG.minimum_calls
    with pytest.raises(CircuitOpen):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert reached_pos == CONFIG.minimum_calls


async def test_answered_client_errors_count_as_successes_and_are_not_retried(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)

    async def rejected() -> None:
        raise PosAnswered(422)

    for _ in range(6):
        with pytest.raises(PosAnswered):
            await guard.call("order_submit", rejected, idempotent=False, classify=classify)
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.state, snapshot.calls_in_window, snapshot.failed_calls) == ("closed", 6, 0)


async def test_429_waits_for_retry_after_and_counts_as_a_failure(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)
    start = clock.now()
    answered_at: list[timedelta] = []

    async def busy_once() -> str:
        answered_at.append(clock.now() - start)
        if len(answered_at) == 1:
            raise PosAnswered(429, retry_after="3")
        return "ok"

    assert await guard.call("inventory", busy_once, idempotent=True, classify=classify) == "ok"
    assert answered_at[1] >= timedelta(seconds=3)
    assert (await guard.breaker.snapshot()).failed_calls == 1


async def test_an_empty_budget_surfaces_the_error_after_one_attempt(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    budget = RetryBudget(BudgetConfig(window_s=10, min_retries_per_s=0.1, ratio=0.2), clock)
    assert budget.try_spend_retry()  # the only retry this window allows
    guard = make_guard(database, clock, store_id, budget=budget)
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        raise PosAnswered(503)

    before = clock.now()
    with pytest.raises(PosAnswered):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert attempts == 1
    assert clock.now() - before < timedelta(seconds=0.2)  # no backoff was slept


async def test_an_unclassified_error_releases_its_probe_permit(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)
    breaker = guard.breaker
    for _ in range(CONFIG.minimum_calls):
        await (await breaker.acquire()).record(False, 0.1)
    clock.advance(CONFIG.wait_in_open_s)

    async def buggy() -> None:
        raise KeyError("a bug in the adapter")

    for _ in range(CONFIG.permitted_calls_in_half_open + 2):
        with pytest.raises(KeyError):
            await guard.call("products", buggy, idempotent=True, classify=classify)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.probes_issued) == ("half_open", 0)


async def test_a_failure_to_record_never_hides_what_the_pos_answered(
    database: Database, clock: FakeClock, store_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_down(self: Permit, success: bool, duration_s: float) -> None:
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(Permit, "record", database_down)
    guard = make_guard(database, clock, store_id)

    async def accepted() -> str:
        return "order 88001"

    assert await guard.call("order_submit", accepted, idempotent=False) == "order 88001"
