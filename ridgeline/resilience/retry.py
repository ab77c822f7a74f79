"""Retries of one POS call: which failures are retried, how long to wait, when to stop.

The semantics (docs/resilience.md, reliability.md point 2) follow the AWS SDKs' standard mode:
only connection errors, timeouts, 429, 502, 503 and 504 are retried, and 500 only for idempotent
reads; the delay before retry k (k = 0 for the first retry) is full jitter, uniform in
`[0, min(cap, base * 2**k)]`; a `Retry-After` is honoured (no retry starts before it) unless it
is longer than the configured maximum or the time left, in which case the error surfaces now.
Attempts, total elapsed time and (through `RetryBudget`) the store's retry rate are bounded.

`RetryState` is the decision object a client drives, one per logical call; `retry_call` is a
runner built on it for callers that only need "call this until it works or must stop".
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TypeVar

import httpx

from ridgeline.clock import Clock
from ridgeline.resilience.budget import RetryBudget

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_ONLY_STATUSES = frozenset({500})
# Answers that say the request was not acted on: safe to send again even when it creates
# something. A 502/504 comes from a gateway that may have passed the request on.
NOT_PROCESSED_STATUSES = frozenset({429, 503})


def never_sent(exc: BaseException) -> bool:
    """Whether a transport error happened before the request could leave: connecting failed,
    or no pooled connection was free."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True
        cause = cause.__cause__
    return False


class FailureKind(StrEnum):
    CONNECTION = "connection"  # no answer: refused, reset, DNS, closed mid-response
    TIMEOUT = "timeout"  # connect or total timeout
    STATUS = "status"  # the POS answered with an error status


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    """How one attempt failed, as far as retrying and the circuit breaker care."""

    kind: FailureKind
    status: int | None = None
    retry_after: str | None = None  # the raw header: seconds or an HTTP date
    # False only when the request cannot have reached the POS (the connection was never made):
    # a request that creates something may then be sent again.
    request_sent: bool = True

    @classmethod
    def connection(cls, *, request_sent: bool = True) -> AttemptFailure:
        return cls(FailureKind.CONNECTION, request_sent=request_sent)

    @classmethod
    def timeout(cls, *, request_sent: bool = True) -> AttemptFailure:
        return cls(FailureKind.TIMEOUT, request_sent=request_sent)

    @classmethod
    def http_status(cls, status: int, retry_after: str | None = None) -> AttemptFailure:
        return cls(FailureKind.STATUS, status=status, retry_after=retry_after)

    @classmethod
    def from_exception(cls, exc: BaseException) -> AttemptFailure | None:
        """The failure a transport exception stands for; None when it is not one (a bug, a
        cancellation), which callers re-raise untouched."""
        sent = not never_sent(exc)
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return cls.timeout(request_sent=sent)
        if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError | ConnectionError):
            return cls.connection(request_sent=sent)
        return None

    def is_retryable(self, *, idempotent: bool) -> bool:
        """Reads are retried on every transient failure. A request that creates something (an
        order) is sent again only when the POS cannot have acted on it: the connection was never
        made, or the POS said so (429, 503). After a timeout or reset mid-request its caller
        recovers by looking the result up (reliability.md point 8), never by resending blind."""
        if self.kind is not FailureKind.STATUS:
            return idempotent or not self.request_sent
        if self.status in NOT_PROCESSED_STATUSES:
            return True
        if self.status in RETRYABLE_STATUSES:
            return idempotent
        return idempotent and self.status in IDEMPOTENT_ONLY_STATUSES

    @property
    def is_pos_failure(self) -> bool:
        """Whether it counts as a failure for the circuit breaker: the POS did not answer, or
        answered that it cannot serve (5xx, 429). Other statuses (400, 401, 404, ...) are answers
        from a working POS and count as successful calls."""
        if self.kind is not FailureKind.STATUS:
            return True
        assert self.status is not None
        return self.status >= 500 or self.status == 429


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` value (delay-seconds or HTTP-date, RFC 9110 10.2.3).

    A negative delay or a date in the past means "now" (0); anything unreadable is None, as if
    the header were absent.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of one logical call's retries. `max_attempts` counts the first attempt."""

    max_attempts: int = 3
    base_s: float = 0.25
    cap_s: float = 5.0
    max_elapsed_s: float = 20.0
    max_retry_after_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if min(self.base_s, self.cap_s, self.max_elapsed_s) <= 0 or self.max_retry_after_s < 0:
            raise ValueError(f"retry durations must be positive: {self!r}")

    def ceiling_s(self, retry: int) -> float:
        """The largest delay before retry `retry` (0 for the first retry)."""
        return min(self.cap_s, self.base_s * 2.0 ** min(max(retry, 0), 64))

    def jitter_s(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling_s(retry))


class GiveUpReason(StrEnum):
    NOT_RETRYABLE = "not_retryable"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    RETRY_AFTER_TOO_LONG = "retry_after_too_long"  # longer than max_retry_after_s
    ELAPSED_EXHAUSTED = "elapsed_exhausted"  # the retry would start after max_elapsed_s
    BUDGET_EXHAUSTED = "budget_exhausted"  # the store's retry budget is empty


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_s: float = 0.0
    give_up: GiveUpReason | None = None

    @classmethod
    def after(cls, delay_s: float) -> RetryDecision:
        return cls(retry=True, delay_s=delay_s)

    @classmethod
    def stop(cls, reason: GiveUpReason) -> RetryDecision:
        return cls(retry=False, give_up=reason)


class RetryState:
    """The retry decisions of one logical call. Call `start_attempt()` before every attempt and
    `after_failure(...)` after a failed one; sleep `delay_s` (on the injected clock) when it says
    retry, else surface the failure.

    The budget is charged one first attempt on the first `start_attempt()`, and one retry only
    when every other check allows it (so a refused retry never spends it). Both are async
    because a shared budget asks Redis.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        idempotent: bool,
        clock: Clock,
        rng: random.Random,
        budget: RetryBudget | None = None,
    ) -> None:
        self.policy = policy
        self.idempotent = idempotent
        self.clock = clock
        self.rng = rng
        self.budget = budget
        self.attempts = 0
        self.started_at: datetime | None = None

    async def start_attempt(self) -> int:
        """Note that an attempt starts; returns its number (1 for the first)."""
        if self.attempts == 0:
            self.started_at = self.clock.now()
            if self.budget is not None:
                await self.budget.record_first_attempt()
        self.attempts += 1
        return self.attempts

    async def after_failure(self, failure: AttemptFailure) -> RetryDecision:
        if self.started_at is None:
            raise RuntimeError("after_failure() before start_attempt()")
        if not failure.is_retryable(idempotent=self.idempotent):
            return RetryDecision.stop(GiveUpReason.NOT_RETRYABLE)
        if self.attempts >= self.policy.max_attempts:
            return RetryDecision.stop(GiveUpReason.ATTEMPTS_EXHAUSTED)
        now = self.clock.now()
        delay_s = self.policy.jitter_s(self.attempts - 1, self.rng)
        retry_after_s = parse_retry_after(failure.retry_after, now)
        if retry_after_s is not None:
            if retry_after_s > self.policy.max_retry_after_s:
                return RetryDecision.stop(GiveUpReason.RETRY_AFTER_TOO_LONG)
            delay_s = max(delay_s, retry_after_s)
        elapsed_s = (now - self.started_at).total_seconds()
        if elapsed_s + delay_s > self.policy.max_elapsed_s:
            return RetryDecision.stop(GiveUpReason.ELAPSED_EXHAUSTED)
        if self.budget is not None and not await self.budget.try_spend_retry():
            return RetryDecision.stop(GiveUpReason.BUDGET_EXHAUSTED)
        return RetryDecision.after(delay_s)


Classifier = Callable[[BaseException], AttemptFailure | None]


async def retry_call(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    clock: Clock,
    rng: random.Random,
    budget: RetryBudget | None = None,
    classify: Classifier = AttemptFailure.from_exception,
) -> T:
    """Run `attempt` until it returns, retrying the exceptions `classify` maps to a retryable
    `AttemptFailure`. When retrying must stop, the last exception propagates unchanged;
    exceptions `classify` does not recognise propagate at once."""
    state = RetryState(policy, idempotent=idempotent, clock=clock, rng=rng, budget=budget)
    while True:
        await state.start_attempt()
        try:
            return await attempt()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            decision = await state.after_failure(failure)
            if not decision.retry:
                raise
        await clock.sleep(decision.delay_s)
