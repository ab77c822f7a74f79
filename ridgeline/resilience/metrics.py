"""Prometheus metrics of the resilience layer (names: `ridgeline_pos_<what>_<unit>`, and
`ridgeline_shared_limits_<what>` for the limits shared through Redis)."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge

CIRCUIT_STATE = Gauge(
    "ridgeline_pos_circuit_state",
    "1 for the state a store's circuit breaker was last seen in by this process, 0 for the others.",
    ["store_id", "state"],
)
CIRCUIT_TRANSITIONS = Counter(
    "ridgeline_pos_circuit_transitions",
    "Circuit breaker transitions this process made, by store, from-state and to-state.",
    ["store_id", "from_state", "to_state"],
)
CIRCUIT_REJECTIONS = Counter(
    "ridgeline_pos_circuit_rejections",
    "Calls a circuit breaker failed fast (open, forced open, or half-open with no probe left).",
    ["store_id", "state"],
)
RETRY_DECISIONS = Counter(
    "ridgeline_pos_retry_decisions",
    "What was decided after a failed POS attempt: `retried`, or why retrying stopped.",
    ["store_id", "endpoint", "decision"],
)


class LimitKind(StrEnum):
    """The limits shared through Redis in scaled mode (`ridgeline.resilience.shared`)."""

    POS_RATE_LIMIT = "pos_rate_limit"
    RETRY_BUDGET = "retry_budget"
    SIGN_IN_THROTTLE = "sign_in_throttle"
    API_RATE_LIMIT = "api_rate_limit"


SHARED_LIMITS_FALLBACK = Counter(
    "ridgeline_shared_limits_fallback",
    "Checks of a shared limit this process decided alone, with its fallback share, because "
    "Redis did not answer.",
    ["limiter"],
)
SHARED_LIMITS_DEGRADED = Gauge(
    "ridgeline_shared_limits_degraded",
    "1 while a shared limit of this process falls back to its local share (Redis unreachable).",
    ["limiter"],
)
# Every limit has its series from the start (at 0), so an alert on them needs no `absent()`.
for _kind in LimitKind:
    SHARED_LIMITS_FALLBACK.labels(_kind.value)
    SHARED_LIMITS_DEGRADED.labels(_kind.value).set(0)
