"""Retries (reliability.md point 2): what is retried, how long it waits, when it stops."""

from __future__ import annotations

import itertools
import random
import statistics
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.resilience import (
    AttemptFailure,
    GiveUpReason,
    RetryPolicy,
    RetryState,
    parse_retry_after,
    retry_call,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def retry_state(
    clock: FakeClock, *, idempotent: bool = True, seed: int = 7, **policy: float
) -> RetryState:
    return RetryState(
        RetryPolicy(**policy),  # type: ignore[arg-type]
        idempotent=idempotent,
        clock=clock,
        rng=random.Random(seed),
    )


async def first_decision(failure: AttemptFailure, *, idempotent: bool) -> bool:
    state = retry_state(FakeClock(NOW), idempotent=idempotent)
    await state.start_attempt()
    return (await state.after_failure(failure)).retry


@pytest.mark.parametrize(
    "failure",
    [
        AttemptFailure.connection(),
        AttemptFailure.timeout(),
        *(AttemptFailure.http_status(status) for status in (429, 502, 503, 504)),
    ],
    ids=lambda f: f.status or f.kind.value,
)
async def test_connection_errors_timeouts_429_502_503_504_are_retried(
    failure: AttemptFailure,
) -> None:
    assert await first_decision(failure, idempotent=True)


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (AttemptFailure.connection(request_sent=False), True),  # never connected
        (AttemptFailure.timeout(request_sent=False), True),  # connect timeout
        (AttemptFailure.http_status(429), True),  # the POS says it did nothing
        (AttemptFailure.http_status(503), True),
        (AttemptFailure.connection(), False),  # reset after sending: it may have acted
        (AttemptFailure.timeout(), False),  # no answer in time: it may have acted
        (AttemptFailure.http_status(502), False),  # a gateway may have passed it on
        (AttemptFailure.http_status(504), False),
    ],
    ids=["refused", "connect-timeout", "429", "503", "reset", "timeout", "502", "504"],
)
async def test_a_request_that_creates_something_is_resent_only_if_the_pos_cannot_have_acted(
    failure: AttemptFailure, retried: bool
) -> None:
    """An order POST sent twice is two orders at a POS that does not dedupe: after a lost answer
    the caller looks the order up instead (reliability.md point 8)."""
    assert await first_decision(failure, idempotent=False) is retried


@pytest.mark.parametrize(
    ("exc", "sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow to connect"), False),
        (httpx.PoolTimeout("no free connection"), False),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.RemoteProtocolError("closed mid-response"), True),
        (httpx.ReadError("reset"), True),
    ],
)
def test_transport_errors_say_whether_the_request_left(exc: Exception, sent: bool) -> None:
    failure = AttemptFailure.from_exception(exc)
    assert failure is not None
    assert failure.request_sent is sent


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 505])
async def test_other_statuses_are_not_retried(status: int) -> None:
    state = retry_state(FakeClock(NOW))
    await state.start_attempt()
    decision = await state.after_failure(AttemptFailure.http_status(status))
    assert (decision.retry, decision.give_up) == (False, GiveUpReason.NOT_RETRYABLE)


async def test_500_is_retried_only_for_idempotent_reads() -> None:
    assert await first_decision(AttemptFailure.http_status(500), idempotent=True)
    assert not await first_decision(AttemptFailure.http_status(500), idempotent=False)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("refused"), "connection"),
        (httpx.ReadError("reset"), "connection"),
        (httpx.RemoteProtocolError("closed"), "connection"),
        (ConnectionResetError(), "connection"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (TimeoutError(), "timeout"),
        (ValueError("a bug"), None),
        (httpx.UnsupportedProtocol("ftp"), None),
    ],
)
def test_transport_exceptions_are_classified(exc: Exception, kind: str | None) -> None:
    failure = AttemptFailure.from_exception(exc)
    assert (failure.kind.value if failure else None) == kind


@pytest.mark.parametrize(("base_s", "cap_s"), [(0.1, 5.0), (1.0, 3.0)])
def test_delay_before_retry_k_is_uniform_in_zero_to_capped_exponential(
    base_s: float, cap_s: float
) -> None:
    policy = RetryPolicy(base_s=base_s, cap_s=cap_s)
    rng = random.Random(2026)
    for k in range(8):
        ceiling = min(cap_s, base_s * 2**k)
        assert policy.ceiling_s(k) == pytest.approx(ceiling)
        draws = [policy.jitter_s(k, rng) for _ in range(4000)]
        assert all(0.0 <= d <= ceiling for d in draws)
        # Full jitter: spread over the whole range, not bunched near the ceiling.
        assert min(draws) < 0.01 * ceiling
        assert max(draws) > 0.99 * ceiling
        assert statistics.fmean(draws) == pytest.approx(ceiling / 2, rel=0.05)


async def test_successive_retries_draw_from_growing_ranges() -> None:
    clock = FakeClock(NOW)
    seen: list[list[float]] = [[], [], []]
    for seed in range(300):
        state = retry_state(
            clock, seed=seed, max_attempts=4, base_s=1.0, cap_s=100.0, max_elapsed_s=1e6
        )
        await state.start_attempt()
        for k in range(3):
            decision = await state.after_failure(AttemptFailure.timeout())
            assert decision.retry
            seen[k].append(decision.delay_s)
            await state.start_attempt()
    assert [max(d) <= 2**k for k, d in enumerate(seen)] == [True, True, True]
    assert max(seen[2]) > 2.0  # the third retry reaches past the second's ceiling


def test_the_same_seed_gives_the_same_delays() -> None:
    def delays(seed: int) -> list[float]:
        policy = RetryPolicy()
        rng = random.Random(seed)
        return [policy.jitter_s(k, rng) for k in range(5)]

    assert delays(11) == delays(11)
    assert delays(11) != delays(12)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        (format_datetime(NOW + timedelta(seconds=42), usegmt=True), 42.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: now
        ("Sunday, 01-Mar-26 12:00:10 GMT", 10.0),  # RFC 850, still allowed by RFC 9110
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Sun, 99 Foo 2026 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


async def test_retry_after_seconds_is_honoured() -> None:
    state = retry_state(FakeClock(NOW), base_s=0.1, cap_s=0.2, max_retry_after_s=10)
    await state.start_attempt()
    decision = await state.after_failure(AttemptFailure.http_status(429, retry_after="7"))
    assert (decision.retry, decision.delay_s) == (True, 7.0)


async def test_retry_after_http_date_is_honoured() -> None:
    state = retry_state(FakeClock(NOW), base_s=0.1, cap_s=0.2, max_retry_after_s=10)
    await state.start_attempt()
    header = format_datetime(NOW + timedelta(seconds=4), usegmt=True)
    decision = await state.after_failure(AttemptFailure.http_status(503, retry_after=header))
    assert (decision.retry, decision.delay_s) == (True, 4.0)


async def test_a_short_retry_after_never_shortens_the_jittered_delay() -> None:
    for seed in range(50):
        jittered = RetryPolicy(base_s=2.0, cap_s=2.0).jitter_s(0, random.Random(seed))
        state = retry_state(FakeClock(NOW), seed=seed, base_s=2.0, cap_s=2.0)
        await state.start_attempt()
        decision = await state.after_failure(AttemptFailure.http_status(503, retry_after="1"))
        assert decision.delay_s == max(1.0, jittered)


async def test_retry_after_above_the_configured_maximum_gives_up() -> None:
    state = retry_state(FakeClock(NOW), max_retry_after_s=10)
    await state.start_attempt()
    decision = await state.after_failure(AttemptFailure.http_status(429, retry_after="11"))
    assert (decision.retry, decision.give_up) == (False, GiveUpReason.RETRY_AFTER_TOO_LONG)


async def test_retry_after_beyond_the_remaining_elapsed_time_gives_up() -> None:
    clock = FakeClock(NOW)
    state = retry_state(clock, max_elapsed_s=10, max_retry_after_s=30)
    await state.start_attempt()
    clock.advance(4)
    decision = await state.after_failure(AttemptFailure.http_status(503, retry_after="7"))
    assert (decision.retry, decision.give_up) == (False, GiveUpReason.ELAPSED_EXHAUSTED)


async def test_garbage_retry_after_falls_back_to_the_jittered_delay() -> None:
    state = retry_state(FakeClock(NOW), base_s=0.5, cap_s=0.5)
    await state.start_attempt()
    decision = await state.after_failure(AttemptFailure.http_status(503, retry_after="later"))
    assert decision.retry
    assert 0 <= decision.delay_s <= 0.5


async def test_attempts_are_bounded() -> None:
    state = retry_state(FakeClock(NOW), max_attempts=3, max_elapsed_s=1e6)
    decisions = []
    for _ in range(3):
        await state.start_attempt()
        decisions.append(await state.after_failure(AttemptFailure.connection()))
    assert [d.retry for d in decisions] == [True, True, False]
    assert decisions[-1].give_up is GiveUpReason.ATTEMPTS_EXHAUSTED


async def test_total_elapsed_time_is_bounded() -> None:
    clock = FakeClock(NOW)
    state = retry_state(clock, max_attempts=100, base_s=1.0, cap_s=1.0, max_elapsed_s=5.0)
    await state.start_attempt()
    retries_started: list[float] = []
    while (decision := await state.after_failure(AttemptFailure.timeout())).retry:
        clock.advance(decision.delay_s)
        retries_started.append((clock.now() - NOW).total_seconds())
        await state.start_attempt()
        clock.advance(0.5)  # an attempt that times out
    assert decision.give_up is GiveUpReason.ELAPSED_EXHAUSTED
    assert retries_started
    assert max(retries_started) <= 5.0


async def test_retry_call_sleeps_the_decided_delays_until_success() -> None:
    clock = FakeClock(NOW)
    calls: list[datetime] = []

    async def flaky() -> str:
        calls.append(clock.now())
        if len(calls) < 3:
            raise httpx.ConnectError("refused")
        return "ok"

    policy = RetryPolicy(max_attempts=5, base_s=1.0, cap_s=8.0)
    result = await retry_call(
        flaky, policy=policy, idempotent=False, clock=clock, rng=random.Random(3)
    )
    assert result == "ok"
    rng = random.Random(3)
    expected = [policy.jitter_s(0, rng), policy.jitter_s(1, rng)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(calls)]
    assert gaps == pytest.approx(expected, abs=1e-5)  # timedelta keeps microseconds


async def test_retry_call_surfaces_the_last_error_when_it_must_stop() -> None:
    clock = FakeClock(NOW)
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        raise httpx.ReadTimeout(f"attempt {attempts}")

    with pytest.raises(httpx.ReadTimeout, match="attempt 3"):
        await retry_call(
            down,
            policy=RetryPolicy(max_attempts=3),
            idempotent=True,
            clock=clock,
            rng=random.Random(1),
        )
    assert attempts == 3


async def test_retry_call_raises_unclassified_errors_at_once() -> None:
    attempts = 0

    async def buggy() -> None:
        nonlocal attempts
        attempts += 1
        raise KeyError("field")

    with pytest.raises(KeyError):
        await retry_call(
            buggy,
            policy=RetryPolicy(),
            idempotent=True,
            clock=FakeClock(NOW),
            rng=random.Random(1),
        )
    assert attempts == 1


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="positive"):
        RetryPolicy(base_s=0)
