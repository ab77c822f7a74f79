"""Retry budget (reliability.md point 3): retries per store stay within
max(minimum per second x window, 20% of first attempts); an empty budget surfaces the error."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.resilience import (
    AttemptFailure,
    BudgetConfig,
    GiveUpReason,
    RetryBudget,
    RetryBudgets,
    RetryPolicy,
    RetryState,
    retry_call,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = BudgetConfig(window_s=10.0, min_retries_per_s=0.5, ratio=0.2)  # minimum 5 per window


async def spend_all(budget: RetryBudget) -> int:
    spent = 0
    while await budget.try_spend_retry():
        spent += 1
    return spent


async def test_the_minimum_is_allowed_without_any_traffic() -> None:
    budget = RetryBudget(CONFIG, FakeClock(NOW))
    assert await spend_all(budget) == 5


async def test_retries_may_reach_twenty_percent_of_first_attempts() -> None:
    budget = RetryBudget(CONFIG, FakeClock(NOW))
    for _ in range(100):
        await budget.record_first_attempt()
    assert await spend_all(budget) == 20


async def test_the_larger_of_the_two_limits_applies() -> None:
    budget = RetryBudget(CONFIG, FakeClock(NOW))
    for _ in range(10):  # 20% of 10 is 2, below the minimum of 5
        await budget.record_first_attempt()
    assert await spend_all(budget) == 5


async def test_the_window_slides() -> None:
    clock = FakeClock(NOW)
    budget = RetryBudget(CONFIG, clock)
    for _ in range(100):
        await budget.record_first_attempt()
    assert await spend_all(budget) == 20
    clock.advance(9.9)
    assert not await budget.try_spend_retry()  # still the same window
    clock.advance(0.2)
    # The first attempts and the retries have both left the window: back to the minimum.
    assert await spend_all(budget) == 5


async def test_old_retries_leave_the_window_before_old_first_attempts_do() -> None:
    clock = FakeClock(NOW)
    budget = RetryBudget(CONFIG, clock)
    assert await spend_all(budget) == 5
    clock.advance(6)
    for _ in range(50):
        await budget.record_first_attempt()  # allows 10
    assert await spend_all(budget) == 5  # 5 spent 6 s ago still count
    clock.advance(4.5)  # those 5 leave the window; the 50 first attempts stay
    assert await spend_all(budget) == 5


async def test_an_empty_budget_surfaces_the_error_at_once() -> None:
    clock = FakeClock(NOW)
    budget = RetryBudget(CONFIG, clock)
    await spend_all(budget)
    state = RetryState(
        RetryPolicy(max_attempts=5),
        idempotent=True,
        clock=clock,
        rng=random.Random(1),
        budget=budget,
    )
    await state.start_attempt()
    decision = await state.after_failure(AttemptFailure.http_status(503))
    assert (decision.retry, decision.delay_s, decision.give_up) == (
        False,
        0.0,
        GiveUpReason.BUDGET_EXHAUSTED,
    )


async def test_a_sick_pos_sees_at_most_the_budget_in_retries() -> None:
    clock = FakeClock(NOW)
    budget = RetryBudget(CONFIG, clock)
    attempts = 0

    async def sick() -> None:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("refused")

    policy = RetryPolicy(max_attempts=4, base_s=0.001, cap_s=0.001)
    for _ in range(100):  # 100 calls within one window, each would retry 3 times
        with pytest.raises(httpx.ConnectError):
            await retry_call(
                sick,
                policy=policy,
                idempotent=True,
                clock=clock,
                rng=random.Random(1),
                budget=budget,
            )
    assert clock.now() - NOW < timedelta(seconds=10)
    assert attempts - 100 == budget.retries_in_window == 20  # not 300


async def test_a_refused_retry_spends_nothing() -> None:
    clock = FakeClock(NOW)
    budget = RetryBudget(CONFIG, clock)
    state = RetryState(
        RetryPolicy(max_attempts=1),
        idempotent=True,
        clock=clock,
        rng=random.Random(1),
        budget=budget,
    )
    await state.start_attempt()
    assert not (await state.after_failure(AttemptFailure.timeout())).retry  # out of attempts
    assert budget.retries_in_window == 0


async def test_each_store_has_its_own_budget() -> None:
    budgets = RetryBudgets(FakeClock(NOW), CONFIG)
    sick, healthy = uuid.uuid4(), uuid.uuid4()
    assert budgets.for_store(sick) is budgets.for_store(sick)
    await spend_all(budgets.for_store(sick))
    assert await budgets.for_store(healthy).try_spend_retry()
