"""Prometheus metrics of store health and recovery (`ridgeline_store_*`, `ridgeline_recovery_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ridgeline.monitoring.statsd import timed_operation

STORE_CONNECTION_STATE = Gauge(
    "ridgeline_store_connection_state",
    "1 for the store's current connection state, 0 for the others (as this process last saw).",
    ["store_id", "state"],
)
STORE_CONNECTION_TRANSITIONS = Counter(
    "ridgeline_store_connection_transitions_total",
    "Store connection state transitions, by from, to and cause.",
    ["from_state", "to_state", "cause"],
)
STORE_TIME_TO_RECOVER = Histogram(
    "ridgeline_store_time_to_recover_seconds",
    "From entering error or offline to connected or degraded again.",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400),
)
RECOVERY_RUNS = Counter(
    "ridgeline_recovery_runs_total",
    "Finished recovery runs, by trigger and status (succeeded / failed).",
    ["trigger", "status"],
)
RECOVERY_RUN_DURATION = timed_operation(
    "recovery_run",
    "ridgeline_recovery_run_duration_seconds",
    "Duration of a recovery run.",
    ["trigger"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
