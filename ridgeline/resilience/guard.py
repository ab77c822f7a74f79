"""The four mechanisms combined around one logical POS call, in their fixed order.

Before each attempt: wait for a rate-limit token, then ask the breaker (CircuitOpen ends the
call at once, before the first attempt or between two). Make the attempt; if it failed, ask the
retry state (policy + the store's budget) whether and when to retry. The rate limiter comes
first so that no probe permit is held while waiting for a token.

The breaker judges the logical call, not its attempts: one permit is taken before the first
attempt and one outcome is recorded on it when the call ends (a success if an attempt succeeded
or the POS answered with a status that is not a failure, a failure if it gave up on a POS
failure). A POS failing 30% of attempts at random answers most calls within their retries;
counting each attempt opened the breaker on it every few minutes (docs/benchmarks.md, "Orders
under chaos"). A half-open probe stays one attempt, recorded at once.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from ridgeline.clock import Clock
from ridgeline.models.circuit_breaker import CircuitState
from ridgeline.resilience.breaker import CircuitBreaker, CircuitOpen, Permit
from ridgeline.resilience.budget import RetryBudget
from ridgeline.resilience.metrics import RETRY_DECISIONS
from ridgeline.resilience.rate_limit import RateLimiter, RateLimits
from ridgeline.resilience.retry import (
    AttemptFailure,
    Classifier,
    GiveUpReason,
    RetryPolicy,
    RetryState,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoreGuard:
    """Everything that stands between one store's client and its POS."""

    store_id: uuid.UUID
    limits: RateLimits
    limiter: RateLimiter
    breaker: CircuitBreaker
    budget: RetryBudget | None
    policy: RetryPolicy
    clock: Clock
    rng: random.Random

    async def call(
        self,
        endpoint: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        classify: Classifier = AttemptFailure.from_exception,
    ) -> T:
        """Run `attempt` under the rate limit, the breaker and the retry policy.

        The call (its attempt and retries) is one outcome for the breaker, recorded when it
        ends; whether it was slow is judged by its last attempt's duration (the backoff between
        attempts is ours, not the POS's). Before every retry the breaker is asked again, so a
        breaker opened meanwhile (by this process or another) stops the retries with
        `CircuitOpen`, and the call's outcome, which belongs to a generation that is over, is
        not recorded. A half-open probe is one attempt: its outcome is recorded at once, and a
        retry after it needs a new permit (normally refused).

        `classify` maps an exception of `attempt` to how it failed; None means it says nothing
        about the POS (a bug on our side): the permit is released and it propagates. When
        retrying stops, the last exception propagates; `CircuitOpen` propagates as raised. A
        cancelled call reports nothing (awaiting the database while being cancelled is not
        reliable): a CLOSED permit needs no report, and a half-open probe's slot comes back when
        half-open times out.
        """
        state = RetryState(
            self.policy,
            idempotent=idempotent,
            clock=self.clock,
            rng=self.rng,
            budget=self.budget,
        )
        store = str(self.store_id)
        permit: Permit | None = None  # the permit the call's outcome will be recorded on
        while True:
            await self.limiter.acquire(self.store_id, self.limits, endpoint)
            permit = await self._permit(permit)
            number = await state.start_attempt()
            started = self.clock.now()
            try:
                result = await attempt()
            except Exception as exc:
                duration_s = (self.clock.now() - started).total_seconds()
                failure = classify(exc)
                if failure is None:
                    await _settle(permit, None, duration_s)
                    raise
                decision = await state.after_failure(failure)
                fields = {
                    "store_id": store,
                    "endpoint": endpoint,
                    "attempt": number,
                    "failure": failure.kind.value,
                    "status": failure.status,
                }
                if not decision.retry:
                    await _settle(permit, not failure.is_pos_failure, duration_s)
                    assert decision.give_up is not None
                    RETRY_DECISIONS.labels(store, endpoint, decision.give_up.value).inc()
                    if decision.give_up is not GiveUpReason.NOT_RETRYABLE:
                        log.info("pos_call_retry_refused", reason=decision.give_up.value, **fields)
                    raise
                if permit.state is CircuitState.HALF_OPEN:
                    # A probe is one attempt: the breaker hears of it now, and decides whether
                    # the retry may go (another probe slot) or not (CircuitOpen).
                    await _settle(permit, not failure.is_pos_failure, duration_s)
                    permit = None
                RETRY_DECISIONS.labels(store, endpoint, "retried").inc()
                log.info("pos_call_retried", delay_s=round(decision.delay_s, 3), **fields)
            else:
                await _settle(permit, True, (self.clock.now() - started).total_seconds())
                return result
            await self.clock.sleep(decision.delay_s)

    async def _permit(self, held: Permit | None) -> Permit:
        """The permit for the next attempt. Before a retry (`held` is the call's permit, still
        to be reported) the breaker is asked again: a CLOSED or DISABLED breaker still in the
        held permit's generation keeps it; one that moved on (opened, or was commanded) ends
        the held permit without an outcome, since an outcome of a generation that is over is
        dropped anyway, and its answer (a new permit, or CircuitOpen) stands for the retry."""
        try:
            fresh = await self.breaker.acquire()
        except CircuitOpen:
            if held is not None:
                await _settle(held, None, 0.0)
            raise
        if held is None:
            return fresh
        if fresh.state is held.state and fresh.generation == held.generation:
            await _settle(fresh, None, 0.0)  # a CLOSED or DISABLED permit: nothing is written
            return held
        await _settle(held, None, 0.0)
        return fresh


async def _settle(permit: Permit, success: bool | None, duration_s: float) -> None:
    """Record the outcome (None: release the permit). If the database fails us here, keep what
    the POS said: an order it accepted must not look failed because the bookkeeping did."""
    try:
        if success is None:
            await permit.release()
        else:
            await permit.record(success, duration_s)
    except Exception:
        log.exception("circuit_breaker_record_failed", store_id=str(permit.breaker.store_id))
