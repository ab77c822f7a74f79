"""The mechanisms combined around one POS call: rate limit -> breaker permit -> attempt ->
retry decision with the budget -> (rate limit -> breaker check -> attempt)... -> one outcome
recorded for the whole call."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import CircuitState
from ridgeline.resilience import (
    AttemptFailure,
    BreakerConfig,
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
from ridgeline.resilience import breaker_machine as machine
from tests.resilience.factories import CONFIG, load_row, make_breaker

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
    config: BreakerConfig = CONFIG,
) -> StoreGuard:
    return StoreGuard(
        store_id=store_id,
        limits=LIMITS,
        limiter=RateLimiter(clock),
        breaker=make_breaker(database, clock, store_id, config),
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
    # The call, answered within its retries, is one successful outcome for the breaker.
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls) == (1, 0)


async def test_an_open_breaker_fails_fast_without_calling(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)
    reached_pos = 0

    async def down() -> None:
        nonlocal reached_pos
        reached_pos += 1
        raise httpx.ConnectTimeout("slow")

    # Each call gives up after its 3 attempts: one failure. After M-1 of them it is CLOSED...
    for _ in range(CONFIG.minimum_calls - 1):
        with pytest.raises(httpx.ConnectTimeout):
            await guard.call("products", down, idempotent=True, classify=classify)
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.state, snapshot.calls_in_window, snapshot.failed_calls) == (
        CircuitState.CLOSED,
        CONFIG.minimum_calls - 1,
        CONFIG.minimum_calls - 1,
    )
    # ...and the M-th failed call opens it.
    with pytest.raises(httpx.ConnectTimeout):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert (await guard.breaker.snapshot()).state is CircuitState.OPEN
    assert reached_pos == CONFIG.minimum_calls * 3
    with pytest.raises(CircuitOpen):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert reached_pos == CONFIG.minimum_calls * 3


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


async def test_429_waits_for_retry_after_and_an_answered_call_is_a_success(
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
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls) == (1, 0)


async def test_a_429_the_call_gives_up_on_counts_as_a_failure(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)

    async def busy() -> None:
        raise PosAnswered(429, retry_after="60")  # longer than max_retry_after_s: no retry

    with pytest.raises(PosAnswered):
        await guard.call("inventory", busy, idempotent=True, classify=classify)
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls) == (1, 1)


async def test_an_empty_budget_surfaces_the_error_after_one_attempt(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    budget = RetryBudget(BudgetConfig(window_s=10, min_retries_per_s=0.1, ratio=0.2), clock)
    assert await budget.try_spend_retry()  # the only retry this window allows
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


def opens_when_counting_attempts(failed_attempts: list[bool]) -> bool:
    """Whether the breaker would have opened had each attempt been an outcome (the policy
    before the chaos run), replayed on the pure rules."""
    now = datetime(2026, 12, 3, tzinfo=UTC)
    row = machine.new_row(uuid.uuid4(), CONFIG, now)
    for failed in failed_attempts:
        outcome = machine.Outcome.FAILED if failed else machine.Outcome.SUCCEEDED
        machine.record(row, CONFIG, now, generation=row.generation, outcome=outcome)
        if row.state is CircuitState.OPEN:
            return True
    return False


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_pos_failing_30_percent_of_attempts_at_random_never_opens_it(
    database: Database, clock: FakeClock, store_id: uuid.UUID, seed: int
) -> None:
    guard = make_guard(database, clock, store_id)
    faults = random.Random(seed)
    attempts: list[bool] = []  # failed?
    gave_up = 0

    async def flaky() -> str:
        failed = faults.random() < 0.3
        attempts.append(failed)
        if failed:
            raise httpx.ConnectError("reset")
        return "order 88001"

    for _ in range(200):
        try:
            await guard.call("order_status", flaky, idempotent=True, classify=classify)
        except httpx.ConnectError:
            gave_up += 1
        # CircuitOpen would fail the test here.
    assert 0.2 <= sum(attempts) / len(attempts) <= 0.4
    assert gave_up >= 1  # some calls did fail, and were recorded as failures
    snapshot = await guard.breaker.snapshot()
    assert snapshot.state is CircuitState.CLOSED
    assert snapshot.calls_in_window == CONFIG.window_size
    # The same attempts, each counted as an outcome, would have opened it.
    assert opens_when_counting_attempts(attempts)


async def test_a_pos_that_is_down_opens_it_within_m_calls_whatever_the_budget_allows(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    # At least 2 retries per 10 s, 20% of first attempts beyond that.
    budget = RetryBudget(BudgetConfig(window_s=10, min_retries_per_s=0.2, ratio=0.2), clock)
    guard = make_guard(database, clock, store_id, budget=budget)
    reached_pos = 0

    async def down() -> None:
        nonlocal reached_pos
        reached_pos += 1
        raise PosAnswered(503)

    for _ in range(CONFIG.minimum_calls):
        with pytest.raises(PosAnswered):
            await guard.call("products", down, idempotent=True, classify=classify)
    assert (await guard.breaker.snapshot()).state is CircuitState.OPEN
    # M first attempts and the 2 retries the budget had: not M times max_attempts.
    assert reached_pos == CONFIG.minimum_calls + 2
    with pytest.raises(CircuitOpen):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert reached_pos == CONFIG.minimum_calls + 2


async def open_then_wait(guard: StoreGuard, clock: FakeClock) -> None:
    for _ in range(guard.breaker.config.minimum_calls):
        await (await guard.breaker.acquire()).record(False, 0.1)
    clock.advance(guard.breaker.config.wait_in_open_s)


async def test_a_half_open_probe_is_one_attempt_recorded_at_once(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)
    await open_then_wait(guard, clock)
    failed_probes_seen: list[int] = []

    async def down() -> None:
        row = await load_row(database, store_id)
        assert row is not None
        failed_probes_seen.append(row.probes_failed)
        raise httpx.ConnectError("refused")

    # Probe 1 fails (1 of P=3 is under T=50%): the retry needs a permit of its own, and gets
    # probe 2, which fails too and re-opens it: the next retry is refused.
    with pytest.raises(CircuitOpen):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert failed_probes_seen == [0, 1]
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason) == (CircuitState.OPEN, "probe_failed")


async def test_a_failed_single_probe_ends_the_call_at_the_breaker(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    config = replace(CONFIG, permitted_calls_in_half_open=1)
    guard = make_guard(database, clock, store_id, config=config)
    await open_then_wait(guard, clock)
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("refused")

    with pytest.raises(CircuitOpen):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert attempts == 1
    assert (await guard.breaker.snapshot()).state is CircuitState.OPEN


@pytest.mark.parametrize("by", ["failures elsewhere", "an operator"])
async def test_a_breaker_opened_between_retries_stops_them(
    database: Database, clock: FakeClock, store_id: uuid.UUID, by: str
) -> None:
    guard = make_guard(database, clock, store_id)
    other_process = make_breaker(database, clock, store_id)
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        if by == "an operator":
            await other_process.force_open(actor="operator:test")
        else:
            for _ in range(CONFIG.minimum_calls):
                await (await other_process.acquire()).record(False, 0.1)
        raise httpx.ConnectError("refused")

    with pytest.raises(CircuitOpen):
        await guard.call("products", down, idempotent=True, classify=classify)
    assert attempts == 1
    row = await load_row(database, store_id)
    assert row is not None
    # The call's failure belongs to the generation that ended: it is not counted.
    expected = [] if by == "an operator" else [1] * CONFIG.minimum_calls
    assert row.window == expected


async def test_a_retry_after_the_breaker_went_half_open_meanwhile_is_a_probe(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    # Retries may go on longer than the breaker's wait in OPEN here.
    policy = RetryPolicy(max_attempts=3, base_s=0.5, cap_s=0.5, max_elapsed_s=60)
    guard = make_guard(database, clock, store_id, policy=policy)
    other_process = make_breaker(database, clock, store_id)
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            for _ in range(CONFIG.minimum_calls):
                await (await other_process.acquire()).record(False, 0.1)
            clock.advance(CONFIG.wait_in_open_s)
            raise httpx.ConnectError("refused")
        return "catalog"

    assert await guard.call("products", flaky, idempotent=True, classify=classify) == "catalog"
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.state, snapshot.probes_issued, snapshot.probes_succeeded) == (
        CircuitState.HALF_OPEN,
        1,
        1,
    )


@pytest.mark.parametrize(("durations", "slow"), [((3.0, 0.1), 0), ((0.1, 3.0), 1)])
async def test_a_call_is_slow_when_its_last_attempt_was(
    database: Database,
    clock: FakeClock,
    store_id: uuid.UUID,
    durations: tuple[float, float],
    slow: int,
) -> None:
    guard = make_guard(database, clock, store_id)
    attempts = 0

    async def timeout_then_answer() -> str:
        nonlocal attempts
        clock.advance(durations[attempts])  # CONFIG: slower than 1 s is slow
        attempts += 1
        if attempts == 1:
            raise httpx.ReadTimeout("no answer")
        return "catalog"

    assert await guard.call("products", timeout_then_answer, idempotent=True, classify=classify)
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls, snapshot.slow_calls) == (1, 0, slow)


async def test_an_answer_after_retries_counts_as_a_success(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    guard = make_guard(database, clock, store_id)
    statuses = iter([503, 422])

    async def busy_then_refused() -> None:
        raise PosAnswered(next(statuses))

    with pytest.raises(PosAnswered) as raised:
        await guard.call("order_submit", busy_then_refused, idempotent=False, classify=classify)
    assert raised.value.status == 422
    snapshot = await guard.breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls) == (1, 0)


@pytest.mark.parametrize("ending", [KeyError("a bug in the adapter"), asyncio.CancelledError()])
async def test_a_call_ended_by_a_bug_or_a_cancellation_after_a_retry_records_nothing(
    database: Database, clock: FakeClock, store_id: uuid.UUID, ending: BaseException
) -> None:
    guard = make_guard(database, clock, store_id)
    attempts = 0

    async def fails_then_ends() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise httpx.ConnectError("refused")
        raise ending

    with pytest.raises(type(ending)):
        await guard.call("products", fails_then_ends, idempotent=True, classify=classify)
    assert attempts == 2
    assert (await guard.breaker.snapshot()).calls_in_window == 0
