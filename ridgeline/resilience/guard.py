"""The four mechanisms combined around one logical POS call, in their fixed order.

For each attempt: wait for a rate-limit token; ask the breaker for a permit (CircuitOpen ends the
call at once, before or between attempts); make the attempt; record its outcome on the permit;
then, if it failed, ask the retry state (policy + the store's budget) whether and when to retry.
The rate limiter comes first so that no probe permit is held while waiting for a token.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from ridgeline.clock import Clock
from ridgeline.resilience.breaker import CircuitBreaker, Permit
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

        `classify` maps an exception of `attempt` to how it failed; None means it says nothing
        about the POS (a bug on our side): the permit is released and it propagates. When
        retrying stops, the last exception propagates; `CircuitOpen` propagates as raised. A
        cancelled attempt reports nothing (awaiting the database while being cancelled is not
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
        while True:
            await self.limiter.acquire(self.store_id, self.limits, endpoint)
            permit = await self.breaker.acquire()
            number = state.start_attempt()
            started = self.clock.now()
            try:
                result = await attempt()
            except Exception as exc:
                duration_s = (self.clock.now() - started).total_seconds()
                failure = classify(exc)
                if failure is None:
                    await _settle(permit, None, duration_s)
                    raise
                await _settle(permit, not failure.is_pos_failure, duration_s)
                decision = state.after_failure(failure)
                fields = {
                    "store_id": store,
                    "endpoint": endpoint,
                    "attempt": number,
                    "failure": failure.kind.value,
                    "status": failure.status,
                }
                if not decision.retry:
                    assert decision.give_up is not None
                    RETRY_DECISIONS.labels(store, endpoint, decision.give_up.value).inc()
                    if decision.give_up is not GiveUpReason.NOT_RETRYABLE:
                        log.info("pos_call_retry_refused", reason=decision.give_up.value, **fields)
                    raise
                RETRY_DECISIONS.labels(store, endpoint, "retried").inc()
                log.info("pos_call_retried", delay_s=round(decision.delay_s, 3), **fields)
            else:
                await _settle(permit, True, (self.clock.now() - started).total_seconds())
                return result
            await self.clock.sleep(decision.delay_s)


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
