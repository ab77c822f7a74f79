"""What stands between Ridgeline and a sick POS: retries, a retry budget, rate limits and a
circuit breaker per store (docs/resilience.md)."""

from ridgeline.resilience.breaker import (
    BreakerSnapshot,
    CircuitBreaker,
    CircuitBreakers,
    CircuitOpen,
    Permit,
    TransitionListener,
)
from ridgeline.resilience.breaker_machine import (
    ALLOWED_TRANSITIONS,
    BreakerConfig,
    IllegalTransition,
    Transition,
    TransitionReason,
)
from ridgeline.resilience.budget import BudgetConfig, RetryBudget, RetryBudgets
from ridgeline.resilience.guard import StoreGuard
from ridgeline.resilience.rate_limit import RateLimit, RateLimiter, RateLimits, TokenBucket
from ridgeline.resilience.retry import (
    AttemptFailure,
    FailureKind,
    GiveUpReason,
    RetryDecision,
    RetryPolicy,
    RetryState,
    parse_retry_after,
    retry_call,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "AttemptFailure",
    "BreakerConfig",
    "BreakerSnapshot",
    "BudgetConfig",
    "CircuitBreaker",
    "CircuitBreakers",
    "CircuitOpen",
    "FailureKind",
    "GiveUpReason",
    "IllegalTransition",
    "Permit",
    "RateLimit",
    "RateLimiter",
    "RateLimits",
    "RetryBudget",
    "RetryBudgets",
    "RetryDecision",
    "RetryPolicy",
    "RetryState",
    "StoreGuard",
    "TokenBucket",
    "Transition",
    "TransitionListener",
    "TransitionReason",
    "parse_retry_after",
    "retry_call",
]
