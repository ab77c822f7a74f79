"""Prometheus metrics of the resilience layer (names: `ridgeline_pos_<what>_<unit>`)."""

from __future__ import annotations

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
